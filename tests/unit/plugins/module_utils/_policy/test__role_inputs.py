"""Tables for the role's input check (filter keepalive_role_inputs): every variable, bad."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._role_inputs import (
    KNOWN,
    check_role_inputs,
)

GOOD = {
    "tcp_keepalive_profile": "cloud",
    "tcp_keepalive_profiles": {},
    "tcp_keepalive_path": [],
    "tcp_keepalive_mode": "enforce",
    "tcp_keepalive_apply_enabled": True,
    "tcp_keepalive_persist_enabled": "yes",
    "tcp_keepalive_adoption_enabled": 1,
    "tcp_keepalive_middlebox_enabled": "False",
    "tcp_keepalive_sysctl_file": "/etc/sysctl.d/90-netstack-keepalive.conf",
    "tcp_keepalive_sysctl_file_mode": "0644",
    "tcp_keepalive_on_shadowed": "warn",
    "tcp_keepalive_netns": "",
    "tcp_keepalive_require": [],
    "tcp_keepalive_heartbeats": [],
    "tcp_keepalive_fail_on": "never",
}
# (variable, bad value, what the message must also say)
BAD = [
    ("tcp_keepalive_profile", 5, "a profile name (cloud"),
    ("tcp_keepalive_profile", "no_such", "known profiles: cloud"),
    ("tcp_keepalive_profile", {"detect_within": "40"}, "must be an integer in 2.."),
    ("tcp_keepalive_profile", {"margin": -1}, "out of range"),
    ("tcp_keepalive_profile", {"detect_within": 40, "oops": 1}, "unknown keys ['oops']"),
    ("tcp_keepalive_profile", {"base": "nope"}, "unknown profile 'nope'"),
    ("tcp_keepalive_profile", {"time": True}, "(a boolean)"),
    ("tcp_keepalive_profiles", [], "a mapping of profile names"),
    ("tcp_keepalive_profiles", {"a": {"probes": 200}}, "allowed 1..127"),
    ("tcp_keepalive_profiles", {"a": "cloud"}, "must be a mapping"),
    ("tcp_keepalive_profiles", {"a": {"base": "b"}, "b": {"base": "a"}}, "base loop"),
    ("tcp_keepalive_path", "aws_nlb", "must be a list of middleboxes"),
    ("tcp_keepalive_path", ["aws_nlbb"], "did you mean: aws_nlb"),
    ("tcp_keepalive_path", [{"id": "aws_nlb", "idle_timeout": 30}], "allowed 60..6000 s"),
    ("tcp_keepalive_path", [42], "must be a catalog id"),
    ("tcp_keepalive_mode", "enforcee", "allowed values are enforce, audit"),
    ("tcp_keepalive_on_shadowed", "explode", "allowed values are fail, warn, ignore"),
    ("tcp_keepalive_fail_on", ["fail"], "allowed values are fail, warn, never"),
    ("tcp_keepalive_apply_enabled", "maybe", "true or false"),
    ("tcp_keepalive_persist_enabled", 2, "true or false"),
    ("tcp_keepalive_adoption_enabled", None, "true or false"),
    ("tcp_keepalive_middlebox_enabled", [], "true or false"),
    ("tcp_keepalive_sysctl_file", "/etc/keepalive.conf", "outside the sysctl.d directories"),
    ("tcp_keepalive_sysctl_file", "/etc/sysctl.d/90-x.txt", "only *.conf files"),
    ("tcp_keepalive_sysctl_file", "etc/sysctl.d/x.conf", "not a plain absolute path"),
    ("tcp_keepalive_sysctl_file_mode", "rw-r--r--", "octal string"),
    ("tcp_keepalive_netns", ["blue"], "a name of 'ip netns list'"),
    ("tcp_keepalive_netns", " blue", "a name of 'ip netns list'"),
    ("tcp_keepalive_require", "sshd", "a list of unit or process names"),
    ("tcp_keepalive_require", [42], "tcp_keepalive_require[1]=42 (int)"),
    ("tcp_keepalive_require", [{"name": "sshd", "states": ["bogus"]}], "one or more of"),
    ("tcp_keepalive_require", [{"name": "sshd", "states": 5}], "states=5 (int)"),
    ("tcp_keepalive_require", [{"name": "sshd", "states": "established"}], "(str)"),
    ("tcp_keepalive_require", [{"name": "sshd", "states": []}], "states=[]"),
    ("tcp_keepalive_require", [{"states": ["listen"]}], "name=None"),
    ("tcp_keepalive_require", [{"name": ""}], "non-empty"),
    ("tcp_keepalive_require", [{"name": "sshd", "state": ["listen"]}], "unknown keys ['state']"),
]


def test_good_inputs_pass_and_bare_names_check_established_only():
    require = ["sshd", {"name": "redis*"}, {"name": "pg", "states": ["listen"]}]
    variables = dict(GOOD, tcp_keepalive_require=require)
    assert check_role_inputs(variables) == {
        "valid": True,
        "errors": [],
        "require": [
            {"name": "sshd", "states": ["established"]},
            {"name": "redis*", "states": ["established"]},
            {"name": "pg", "states": ["listen"]},
        ],
        "heartbeats": [],
    }


def shown(variable, value):
    """How the message quotes the bad value: the whole value, or the bad entry of a list
    (require, path) or of the profiles mapping."""
    if isinstance(value, list) and value and variable != "tcp_keepalive_middlebox_enabled":
        return repr(value[0]) if variable == "tcp_keepalive_require" else repr(value)
    if variable == "tcp_keepalive_profiles" and isinstance(value, dict):
        return repr(next(iter(value.values())))
    return repr(value)


@pytest.mark.parametrize("variable, value, allowed", BAD)
def test_each_bad_input_is_named_with_its_value_and_what_is_allowed(variable, value, allowed):
    result = check_role_inputs(dict(GOOD, **{variable: value}))
    assert result["valid"] is False and result["require"] is None
    message = result["errors"][0]  # a base loop is one problem per profile in it
    assert message.startswith(variable), message
    assert shown(variable, value) in message, message
    assert allowed in message, message


def test_every_problem_is_reported_at_once():
    variables = dict(GOOD, tcp_keepalive_mode="x", tcp_keepalive_path="y", tcp_keepalive_require=7)
    errors = check_role_inputs(variables)["errors"]
    assert [e.split("=")[0] for e in errors] == [
        "tcp_keepalive_mode",
        "tcp_keepalive_path",
        "tcp_keepalive_require",
    ]


def test_every_variable_of_the_role_is_checked():
    assert set(KNOWN) == set(GOOD)
    with pytest.raises(KeepaliveError, match="missing tcp_keepalive_fail_on"):
        check_role_inputs({k: v for k, v in GOOD.items() if k != "tcp_keepalive_fail_on"})


def test_an_infeasible_profile_is_valid_input_the_plan_refuses():
    variables = dict(GOOD, tcp_keepalive_profile={"detect_within": 20})
    assert check_role_inputs(variables)["valid"]
    assert "short by 11 s" in plan_values({"detect_within": 20})["error"]


def test_an_inline_profile_is_planned_and_judged_by_its_own_requirements():
    inline = {"detect_within": 40, "tolerate_outage": 6, "margin": 4, "detect_busy_within": 60}
    planned = plan_values(inline, ["aws_nlb"])
    assert planned["error"] is None and planned["profile"] == "inline"
    # The smallest tcp_retries2 whose busy connections outlast a 6 s blip (6.4 s) notices
    # within 12.6 s; the host reports it as set, so busy detection passes against it.
    assert planned["intended"]["retries2"] == 4
    values = {k: v for k, v in planned["intended"].items() if k != "retries2"}
    set_values = dict(("tcp_keepalive_%s" % k, v) for k, v in values.items())
    set_values["tcp_retries2"] = 4
    sysctl = {"before": set_values, "after": set_values}
    report = host_report(planned, "h1", sysctl=sysctl)
    assert report["profile"] == "inline" and report["status"] == "pass", report["problems"]
    detection = [v for v in report["verdicts"] if v["check"] == "detection_time"]
    assert detection and detection[0]["limit"] == 40
    busy = [v for v in report["verdicts"] if v["check"] == "busy_detection"]
    assert [(v["value"], v["limit"]) for v in busy] == [(12.6, 60)]
    assert report["retries2"] == 4 and report["detection_busy_seconds"] == 12.6

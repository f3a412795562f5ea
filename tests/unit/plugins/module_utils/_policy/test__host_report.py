"""Tables for the role's plan and host-report decisions (pure Python)."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)

DEFAULTS = {"time": 7200, "intvl": 75, "probes": 9}


def sysctl_result(before, after=None, boot=None, shadowed=(), changed=False):
    """A keepalive_sysctl result as the module returns it (option-style names)."""

    def long_names(values):
        return {"tcp_keepalive_%s" % k: v for k, v in values.items()}

    after = after or before
    boot = boot or after
    return {
        "before": long_names(before),
        "after": long_names(after),
        "boot_values": {
            "tcp_keepalive_%s" % k: {"value": v, "source": "/etc/sysctl.d/90-x.conf:%d" % i}
            for i, (k, v) in enumerate(boot.items(), 1)
        },
        "shadowed_by": list(shadowed),
        "file": "/etc/sysctl.d/90-x.conf",
        "changed": changed,
    }


@pytest.mark.parametrize(
    "profile, path, intended, error_part",
    [
        ("cloud", ["aws_nlb", "aws_nat_gateway"], {"time": 180, "intvl": 20, "probes": 3}, None),
        ("database", ["azure_lb_standard"], {"time": 90, "intvl": 10, "probes": 3}, None),
        ("cloud", [], {"time": 180, "intvl": 20, "probes": 3}, None),
        (
            {"time": 7200},
            ["azure_nat_gateway"],
            {"time": 7200, "intvl": 10, "probes": 3},
            "fail the policy",
        ),
        ({"detect_within": 20, "tolerate_outage": 30}, [], None, "short by 11 s"),
        (
            {"time": 100, "intvl": 10, "probes": 3},
            [{"id": "aws_nlb", "idle_timeout": 600}],
            {"time": 100, "intvl": 10, "probes": 3},
            None,
        ),
    ],
)
def test_plan_values_or_reason(profile, path, intended, error_part):
    result = plan_values(profile, path)
    assert result["intended"] == intended
    if error_part is None:
        assert result["error"] is None
    else:
        assert error_part in result["error"]


def test_plan_ignores_the_path_when_the_middlebox_check_is_off():
    # 7200 s behind Azure's 240 s fails with the check, passes without it.
    assert plan_values({"time": 7200}, ["azure_lb_standard"])["error"]
    assert (
        plan_values({"time": 7200}, ["azure_lb_standard"], middlebox_check=False)["error"] is None
    )


@pytest.mark.parametrize(
    "profile, path, message_part",
    [
        ("no_such_profile", [], "no_such_profile"),
        ("cloud", ["aws_nlbb"], "aws_nlbb"),
    ],
)
def test_plan_refuses_wrong_input(profile, path, message_part):
    with pytest.raises(KeepaliveError) as exc:
        plan_values(profile, path)
    assert message_part in str(exc.value)


CLOUD = {"time": 180, "intvl": 20, "probes": 3}


@pytest.mark.parametrize(
    "case, kwargs, status, checks",
    [
        (
            "enforced and persisted",
            dict(sysctl=sysctl_result(DEFAULTS, CLOUD, changed=True)),
            "pass",
            set(),
        ),
        (
            "audit of an untuned host",
            dict(check_mode=True, mode="audit", sysctl=sysctl_result(DEFAULTS, CLOUD)),
            "fail",
            {"middlebox_idle", "detection_time", "runtime_value"},
        ),
        (
            "applied but not persisted",
            dict(sysctl=sysctl_result(DEFAULTS, CLOUD, boot=DEFAULTS)),
            "fail",
            {"boot_value"},
        ),
        (
            "persist turned off on purpose",
            dict(persist=False, sysctl=sysctl_result(DEFAULTS, CLOUD, boot=DEFAULTS)),
            "warn",
            {"boot_value"},
        ),
        (
            "enforce under --check previews the result",
            dict(check_mode=True, sysctl=sysctl_result(DEFAULTS, CLOUD)),
            "pass",
            set(),
        ),
        (
            "apply turned off",
            dict(sysctl=sysctl_result(DEFAULTS, DEFAULTS, boot=CLOUD)),
            "fail",
            {"runtime_value", "middlebox_idle", "detection_time"},
        ),
        (
            "shadowed, on_shadowed=warn",
            dict(
                on_shadowed="warn",
                sysctl=sysctl_result(
                    CLOUD,
                    shadowed=[
                        {
                            "file": "/etc/sysctl.conf",
                            "line": 3,
                            "value": "7200",
                            "key": "net.ipv4.tcp_keepalive_time",
                        }
                    ],
                ),
            ),
            "warn",
            {"shadowed"},
        ),
        (
            "shadowed, on_shadowed=fail",
            dict(
                sysctl=sysctl_result(
                    CLOUD,
                    shadowed=[
                        {
                            "file": "/etc/sysctl.d/99-z.conf",
                            "line": 1,
                            "value": "7200",
                            "key": "net.ipv4.tcp_keepalive_time",
                        }
                    ],
                )
            ),
            "fail",
            {"shadowed"},
        ),
        (
            "module failed",
            dict(sysctl_error="tcp_keepalive_time=0 is out of range"),
            "fail",
            {"apply"},
        ),
        (
            "adoption verdicts are carried",
            dict(
                sysctl=sysctl_result(CLOUD),
                sockets={
                    "summary": [],
                    "namespaces": [],
                    "verdicts": [
                        {
                            "check": "require",
                            "subject": "plain.service",
                            "status": "fail",
                            "value": 0,
                            "limit": None,
                            "message": "no keepalive",
                        }
                    ],
                },
            ),
            "fail",
            {"require"},
        ),
    ],
)
def test_host_report_verdicts(case, kwargs, status, checks):
    report = host_report(plan_values("cloud", ["aws_nlb", "aws_nat_gateway"]), "h1", **kwargs)
    failing = {v["check"] for v in report["verdicts"] if v["status"] != "pass"}
    assert report["status"] == status, case
    assert failing == checks, case
    assert report["schema"] == 1 and report["host"] == "h1"


def test_audit_reports_the_values_found_not_the_ones_it_would_set():
    report = host_report(
        plan_values("cloud", ["aws_nlb"]),
        "h1",
        mode="audit",
        check_mode=True,
        sysctl=sysctl_result(DEFAULTS, CLOUD),
    )
    assert report["runtime"] == DEFAULTS
    assert report["after"] == DEFAULTS
    assert report["intended"] == CLOUD
    assert report["detection_seconds"] == 7875


@pytest.mark.parametrize(
    "fail_on, status, fails",
    [
        ("fail", "fail", True),
        ("fail", "warn", False),
        ("warn", "warn", True),
        ("never", "fail", False),
        ("warn", "pass", False),
    ],
)
def test_fail_on_decides_whether_the_host_fails(fail_on, status, fails):
    shadow = {"warn": "warn", "fail": "fail", "pass": "ignore"}[status]
    sysctl = sysctl_result(
        CLOUD,
        shadowed=[
            {
                "file": "/etc/sysctl.conf",
                "line": 1,
                "key": "net.ipv4.tcp_keepalive_time",
                "value": "7200",
            }
        ],
    )
    report = host_report(
        plan_values("cloud", []), "h1", sysctl=sysctl, fail_on=fail_on, on_shadowed=shadow
    )
    assert report["status"] == status
    assert report["fails_host"] is fails


def test_bad_fail_on_names_option_and_allowed_values():
    with pytest.raises(KeepaliveError, match=r"fail_on='sometimes': allowed values are fail, warn"):
        host_report(plan_values("cloud", []), "h1", fail_on="sometimes")

"""The audit action's pure parts: the plan with the role's input check, the options it sends
keepalive_audit_facts (those the role's apply step passes, and what the socket audit must
read for the options the adoption step passes, which the action judges), and its messages."""

from __future__ import annotations

from pathlib import Path

import pytest

import yaml

from ansible_collections.netstack.keepalive.plugins.action import keepalive_audit as action
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

ROLE_VARS = Path(__file__).resolve().parents[4] / "roles" / "tcp_keepalive" / "vars" / "main.yml"
VARIABLES = {
    "tcp_keepalive_profile": "cloud",
    "tcp_keepalive_profiles": {},
    "tcp_keepalive_path": ["aws_nlb"],
    "tcp_keepalive_mode": "audit",
    "tcp_keepalive_apply_enabled": True,
    "tcp_keepalive_persist_enabled": True,
    "tcp_keepalive_adoption_enabled": True,
    "tcp_keepalive_middlebox_enabled": True,
    "tcp_keepalive_sysctl_file": "/etc/sysctl.d/90-netstack-keepalive.conf",
    "tcp_keepalive_sysctl_file_mode": "0644",
    "tcp_keepalive_on_shadowed": "fail",
    "tcp_keepalive_netns": "",
    "tcp_keepalive_require": ["sshd"],
    "tcp_keepalive_heartbeats": [],
    "tcp_keepalive_fail_on": "fail",
}


def args_for(**changes):
    """``(keepalive_audit_facts' options, keepalive_sockets_info's options)`` for a host."""
    variables = dict(VARIABLES, **changes)
    plan = action._plan("web-1", variables)
    sockets = action.socket_options(plan, variables)
    checked = action.checked_socket_options("web-1", sockets)
    return action.module_args(plan, variables, checked), sockets


def test_the_options_are_those_of_the_roles_apply_and_adoption_steps():
    args, sockets = args_for()
    assert args["sysctl"] == {
        "tcp_keepalive_time": 180, "tcp_keepalive_intvl": 20, "tcp_keepalive_probes": 3,
        "apply": True, "persist": True, "path": "/etc/sysctl.d/90-netstack-keepalive.conf",
        "mode": "0644", "on_shadowed": "fail",
    }  # fmt: skip
    assert sockets == {
        "require": [{"name": "sshd", "states": ["established"]}],  # sshd: accepted only
        "path": ["aws_nlb"], "profile": "cloud", "profiles": {},
    }  # fmt: skip
    # The host reads what judging those needs: the sockets crossing the path, sshd's beat.
    assert args["sockets"] == {"crossing": True, "sshd": True}


def test_netns_retries2_and_switched_off_parts():
    busy = {"base": "cloud", "detect_busy_within": 300}
    args, _sockets = args_for(tcp_keepalive_profile=busy, tcp_keepalive_netns="blue")
    assert args["sysctl"]["netns"] == "blue" and args["sysctl"]["tcp_retries2"] == 8
    args, sockets = args_for(tcp_keepalive_adoption_enabled="no")
    assert "sockets" not in args and sockets is None
    args, sockets = args_for(tcp_keepalive_middlebox_enabled="False")
    assert sockets["path"] == [] and args["sockets"] == {"crossing": False, "sshd": True}
    args, _sockets = args_for(tcp_keepalive_middlebox_enabled="False", tcp_keepalive_require=[])
    assert args["sockets"] == {"crossing": False, "sshd": False}  # nothing to judge


def test_the_socket_options_get_the_modules_defaults_and_checks_before_the_host_is_asked():
    checked = action.checked_socket_options("web-1", {"path": ["aws_nlb"], "profile": "cloud"})
    assert checked["states"] == ["established", "listen"] and checked["require"] == []
    with pytest.raises(KeepaliveError, match=r"web-1: keepalive_sockets_info options: path="):
        action.checked_socket_options("web-1", {"path": ["no_such_box"]})
    with pytest.raises(KeepaliveError, match=r"web-1: keepalive_sockets_info options: .*shrug"):
        action.checked_socket_options("web-1", {"shrug": 1})


def test_invalid_input_and_another_mode_are_refused_before_the_host_is_asked():
    with pytest.raises(KeepaliveError, match="web-1: invalid role input, nothing was changed: "):
        action._plan("web-1", dict(VARIABLES, tcp_keepalive_on_shadowed="shrug"))
    with pytest.raises(KeepaliveError, match="tcp_keepalive_mode must be audit, got 'enforce'"):
        action._plan("web-1", dict(VARIABLES, tcp_keepalive_mode="enforce"))


@pytest.mark.parametrize(
    "facts, message",
    [
        ({"stage": "preflight", "option": "netns", "msg": "no such namespace"},
         "web-1: invalid role input, nothing was changed: tcp_keepalive_netns: no such namespace"),
        ({"stage": "preflight", "msg": "read-only"},
         "web-1: invalid role input, nothing was changed: keepalive_sysctl: read-only"),
        ({"stage": "sockets", "msg": "netlink refused"}, "web-1: netlink refused"),
    ],
)  # fmt: skip
def test_host_failures_name_the_role_variable(facts, message):
    assert action._host_failure("web-1", facts, {"netns": "tcp_keepalive_netns"}) == message


def test_each_option_is_named_by_the_role_variable_the_role_names_for_it():
    """The action builds each keepalive_sysctl option from a role variable; the role's own
    mapping (for its step by step path) names the same one for each."""
    with open(ROLE_VARS) as handle:
        role = yaml.safe_load(handle)["__tcp_keepalive_option_variables"]
    assert role == action.OPTION_VARIABLES
    failed = {"stage": "preflight", "option": "path", "msg": "not absolute"}
    assert action._host_failure("web-1", failed, action.OPTION_VARIABLES).endswith(
        "tcp_keepalive_sysctl_file: not absolute"
    )


def test_the_role_variables_are_read_from_the_task_and_a_missing_one_is_named():
    seen = []

    def template(value):
        seen.append(value)
        return value

    assert action.role_variables("web-1", dict(VARIABLES, other=1), template) == VARIABLES
    assert sorted(seen, key=repr) == sorted(VARIABLES.values(), key=repr)
    partial = dict(VARIABLES)
    del partial["tcp_keepalive_path"], partial["tcp_keepalive_netns"]
    with pytest.raises(KeepaliveError, match="tcp_keepalive_path, tcp_keepalive_netns are not "):
        action.role_variables("web-1", partial, template)

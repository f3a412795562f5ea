"""The audit action's pure parts: the plan with the role's input check, the options it sends
keepalive_audit_facts (those the role's apply and adoption steps pass), and its messages."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.action import keepalive_audit as action
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

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
    variables = dict(VARIABLES, **changes)
    return action.module_args(action._plan("web-1", variables), variables)


def test_the_options_are_those_of_the_roles_apply_and_adoption_steps():
    args = args_for()
    assert args["sysctl"] == {
        "tcp_keepalive_time": 180, "tcp_keepalive_intvl": 20, "tcp_keepalive_probes": 3,
        "apply": True, "persist": True, "path": "/etc/sysctl.d/90-netstack-keepalive.conf",
        "mode": "0644", "on_shadowed": "fail",
    }  # fmt: skip
    assert args["sockets"] == {
        "require": [{"name": "sshd", "states": ["established"]}],  # sshd: accepted only
        "path": ["aws_nlb"], "profile": "cloud", "profiles": {},
    }  # fmt: skip


def test_netns_retries2_and_switched_off_parts():
    busy = {"base": "cloud", "detect_busy_within": 300}
    args = args_for(tcp_keepalive_profile=busy, tcp_keepalive_netns="blue")
    assert args["sysctl"]["netns"] == "blue" and args["sysctl"]["tcp_retries2"] == 8
    assert "sockets" not in args_for(tcp_keepalive_adoption_enabled="no")
    assert args_for(tcp_keepalive_middlebox_enabled="False")["sockets"]["path"] == []


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

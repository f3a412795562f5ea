"""keepalive_sockets_info refuses every bad option before it scans, naming it and the value."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
)
from ansible_collections.netstack.keepalive.plugins.modules import keepalive_sockets_info

# (options, what the message must say: the option and value, then what is allowed)
BAD = [
    ({"states": []}, ["states=[]", "one or more of"]),
    ({"states": ["estab"]}, ["states", "estab", "one or more of"]),
    (
        {"netns": ["/etc/passwd"]},
        ["netns[1]: ", "'/etc/passwd'", "not a network namespace", "/proc/PID/ns/net"],
    ),
    (
        {"netns": ["/proc/self/ns/uts"]},
        ["netns[1]: ", "'/proc/self/ns/uts'", "not a network namespace"],
    ),
    ({"netns": ["/proc"]}, ["netns[1]: ", "'/proc'", "not a network namespace"]),
    ({"netns": [""]}, ["netns[1]=''", "ip netns list"]),
    ({"netns": ["no-such-ns-xyz"]}, ["no-such-ns-xyz", "no such network namespace"]),
    (
        {"require": [{"name": "sshd", "states": 5}]},
        ["require[1]=", "states=5 (int)", "established, listen"],
    ),
    ({"require": [{"name": "sshd", "states": "established"}]}, ["states='established' (str)"]),
    ({"require": [{"name": "sshd", "states": []}]}, ["states=[]", "one or more of"]),
    ({"require": [{"name": "sshd", "states": ["bogus"]}]}, ["states=['bogus']"]),
    ({"require": [{"name": "sshd", "state": ["listen"]}]}, ["unknown keys ['state']"]),
    ({"require": [42]}, ["require[1]=42 (int)", "unit or process name"]),
    ({"require": [{"name": 7}]}, ["name=7 (int)", "non-empty unit or process name"]),
    ({"path": ["aws_nlbb"]}, ["path=['aws_nlbb']", "did you mean: aws_nlb"]),
    ({"path": [{"id": "aws_nlb", "idle_timeout": 5}]}, ["idle_timeout=5", "allowed 60..6000"]),
    ({"profile": "nope"}, ["profile='nope'", "known profiles: cloud"]),
    ({"profile": {"margin": "x"}}, ["profile=", "margin must be an integer"]),
    ({"profiles": {"a": {"time": 0}}, "profile": "a"}, ["profiles.a.time=0", "1..32767"]),
    ({"profiles": "cloud"}, ["profiles", "dict"]),
    ({"units": [""]}, ["units[1]=''", "non-empty"]),
    ({"ports": [70000]}, ["ports: 70000", "0..65535"]),
    ({"ports": ["http"]}, ["ports", "int"]),
    ({"limit": -1}, ["limit=-1", "0 or more"]),
    ({"keepalive": "maybe"}, ["keepalive", "enabled, disabled"]),
    ({"details": "sometimes"}, ["details", "bool"]),
    ({"exact": "sometimes"}, ["exact", "bool"]),
]


def run_module(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        keepalive_sockets_info.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result


@pytest.fixture
def no_scan(monkeypatch):
    """Fails the test if the module gets as far as scanning."""

    def refuse(*args, **kwargs):
        raise AssertionError("the module scanned before refusing its options")

    monkeypatch.setattr(_adoption, "gather", refuse)


@pytest.mark.parametrize("args, expected", BAD)
def test_bad_option_fails_before_the_scan(capsys, no_scan, args, expected):
    result = run_module(capsys, args)
    assert result["rc"] == 1 and result["failed"] is True, result
    for text in expected:
        assert text in result["msg"], result["msg"]


def test_our_own_namespace_by_path_is_audited(capsys):
    result = run_module(capsys, {"netns": ["/proc/self/ns/net"], "limit": 0})
    assert result["rc"] == 0, result.get("msg")
    assert [ns["current"] for ns in result["namespaces"].values()] == [True]

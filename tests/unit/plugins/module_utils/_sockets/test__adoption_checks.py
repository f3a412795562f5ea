"""require entries of every shape, namespaces asked for by name that cannot be audited, and
the busy_detection verdict of each socket group crossing the path."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._detection import (
    detection_busy,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    normalize_require,
    path_verdicts,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError


@pytest.mark.parametrize(
    "items, message",
    [
        ("sshd", "require='sshd' (str): allowed: a list of unit or process names"),
        ({"name": "sshd"}, "(dict): allowed: a list"),
        ([{"name": "sshd", "states": 5}], "require[1]={'name': 'sshd', 'states': 5}: states=5"),
        ([{"name": "sshd", "states": "established"}], "states='established' (str): allowed"),
        ([{"name": "sshd", "states": []}], "states=[]: allowed: a list of one or more of"),
        ([{"name": "sshd", "states": [None]}], "states=[None]"),
        (["ok", {"name": None}], "require[2]={'name': None}: name=None (NoneType)"),
        ([" "], "require[1]=' ': name=' ' (str): allowed: a non-empty"),
        ([["sshd"]], "require[1]=['sshd'] (list)"),
    ],
)
def test_every_bad_shape_is_named_with_its_index_value_and_what_is_allowed(items, message):
    with pytest.raises(KeepaliveError, match=r"^require") as raised:
        normalize_require(items)
    assert message in str(raised.value)
    assert raised.value.details["option"] == "require"


def test_the_caller_names_the_option_and_the_default_states():
    items = ["sshd", {"name": "redis*", "states": ["listen", "listen", "established"]}]
    assert normalize_require(items, default_states=("established",)) == [
        {"name": "sshd", "states": ["established"]},
        {"name": "redis*", "states": ["listen", "established"]},
    ]
    with pytest.raises(KeepaliveError, match=r"^tcp_keepalive_require\[1\]="):
        normalize_require([7], option="tcp_keepalive_require")


def test_the_module_default_for_a_bare_name_stays_both_states():
    assert normalize_require(["sshd"]) == [{"name": "sshd", "states": ["established", "listen"]}]
    assert normalize_require(None) == []


def _entries():
    return [{"id": "blue", "path": "/run/netns/blue", "current": False}]


def _refused(paths, func, *args):
    return [(False, KeepaliveError("netns='/run/netns/blue': cannot enter it"))]


def test_a_named_namespace_that_cannot_be_entered_is_an_error(monkeypatch):
    monkeypatch.setattr(_adoption, "run_in_each_netns", _refused)
    with pytest.raises(KeepaliveError, match="cannot enter it"):
        _adoption.dump_namespaces(_entries(), ["established"], [], explicit=True)


def test_in_the_audit_of_every_namespace_it_is_skipped_and_said(monkeypatch):
    monkeypatch.setattr(_adoption, "run_in_each_netns", _refused)
    degraded = []
    assert _adoption.dump_namespaces(_entries(), ["established"], degraded) == {}
    assert degraded == ["network namespace blue skipped: netns='/run/netns/blue': cannot enter it"]


# ---------------------------------------------------------------- busy_detection per group

NAMESPACES = {"net:[1]": {"tcp_retries2": 15}, "blue": {"tcp_retries2": 5}}


def _group(netns="net:[1]", user_timeout=None, source="getsockopt", comm="app"):
    return {
        "netns": netns,
        "unit": "app.service",
        "comm": comm,
        "state": "established",
        "keepalive": True,
        "idle": 300,
        "intvl": 75,
        "cnt": 9,
        "user_timeout": user_timeout,
        "source": source,
        "count": 2,
        "retransmitting": 0,
        "probing": 0,
    }


def _busy(rows, profile, namespaces=None):
    namespaces = NAMESPACES if namespaces is None else namespaces
    verdicts = path_verdicts(rows, ["aws_nat_gateway"], profile, namespaces=namespaces)
    assert [v["check"] for v in verdicts] == ["socket_idle", "busy_detection"] * len(rows)
    return [v for v in verdicts if v["check"] == "busy_detection"]


@pytest.mark.parametrize(
    "user_timeout, profile, status, limit, said",
    [
        # the sockets' own 5 s decide: 5.2 s, within 30 s, and a 5 s blip is tolerated
        (
            5.0,
            {"detect_busy_within": 30, "tolerate_outage": 5},
            "pass",
            30,
            "the sockets' TCP_USER_TIMEOUT 5.0 s",
        ),
        # the same sockets under the default tolerate_outage 30 s: a 5.2 s blip drops them
        (5.0, {"detect_busy_within": 30}, "warn", 30, "a network blip of 5.2 s"),
        # no user timeout: the namespace's tcp_retries2 15 decides, 1044.6 s
        (None, {"detect_busy_within": 30}, "fail", 30, "over by 1014.6 s"),
        (None, {"detect_within": 60}, "warn", 600, "over 10 times detect_within 60 s"),
        (None, {"detect_within": 120}, "pass", None, "no detect_busy_within requirement"),
    ],
)
def test_a_group_is_judged_by_the_host_level_busy_rule(user_timeout, profile, status, limit, said):
    (verdict,) = _busy([_group(user_timeout=user_timeout)], profile)
    assert verdict["status"] == status, verdict["message"]
    assert verdict["value"] == detection_busy(15, user_timeout=user_timeout)
    assert verdict["limit"] == limit
    assert said in verdict["message"]
    assert verdict["subject"] == "app.service app [net:[1]] established (2 sockets)"
    assert verdict["message"].startswith(verdict["subject"] + ": with data in flight")
    if user_timeout is None:
        assert "tcp_retries2 15 of namespace net:[1]" in verdict["message"]


def test_each_group_uses_the_tcp_retries2_of_its_own_namespace():
    rows = [_group("net:[1]", comm="one"), _group("blue", comm="two")]
    host, blue = _busy(rows, {"detect_busy_within": 30, "tolerate_outage": 5})
    assert (host["value"], host["status"]) == (detection_busy(15), "fail")
    assert (blue["value"], blue["status"]) == (detection_busy(5), "pass")
    assert "tcp_retries2 5 of namespace blue" in blue["message"]
    assert "app.service two [blue]" in blue["message"]


def test_an_unread_retries2_is_the_kernel_default_and_an_unread_user_timeout_is_unknown():
    namespaces = {"net:[1]": {"tcp_retries2": None}}
    (unread,) = _busy([_group()], {"detect_within": 120}, namespaces)
    assert unread["value"] == detection_busy(15)
    assert "tcp_retries2 of namespace net:[1] unknown: the kernel default 15" in unread["message"]
    (timer,) = _busy([_group(source="timer")], {"detect_within": 120})
    assert (timer["status"], timer["value"]) == ("warn", None)
    assert "TCP_USER_TIMEOUT unknown (source timer)" in timer["message"]

"""require entries of every shape, and namespaces asked for by name that cannot be audited."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    normalize_require,
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

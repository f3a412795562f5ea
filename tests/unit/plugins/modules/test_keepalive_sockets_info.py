"""keepalive_sockets_info's main() in-process on this host: what a playbook would see."""

from __future__ import annotations

import json
import os
import socket

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import SUMMARY_KEYS
from ansible_collections.netstack.keepalive.plugins.modules import keepalive_sockets_info


def run_module(capsys, args, check_mode=False):
    args = dict(args, _ansible_check_mode=check_mode)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        keepalive_sockets_info.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result


@pytest.fixture
def our_listener():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 123)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("check_mode", [False, True])
def test_same_answer_in_check_mode_and_never_changed(capsys, our_listener, check_mode):
    result = run_module(capsys, {"ports": [our_listener]}, check_mode=check_mode)
    assert result["rc"] == 0 and result["changed"] is False
    (row,) = result["sockets"]
    assert (row["pid"], row["state"], row["keepalive"], row["idle"]) == (
        os.getpid(),
        "listen",
        True,
        123,
    )
    assert row["set_by_app"]["idle"] is True
    assert {"summary", "namespaces", "degraded", "socket_count"} <= set(result)


def test_summary_only_by_default(capsys, our_listener):
    result = run_module(capsys, {})
    assert "sockets" not in result and result["summary"]
    assert set(result["summary"][0]) == set(SUMMARY_KEYS)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"ports": [70000]}, "ports: 70000 is not a TCP port"),
        ({"states": ["estab"]}, "value of states must be one or more of"),
        ({"require": [{"name": "x", "states": ["closing"]}]}, "require[1]="),
        ({"netns": ["no-such-ns-xyz"]}, "no such network namespace"),
    ],
)
def test_errors_are_fail_json_not_tracebacks(capsys, args, message):
    result = run_module(capsys, args)
    assert result["rc"] == 1 and result["failed"] is True
    assert message in result["msg"]

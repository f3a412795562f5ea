"""keepalive_path_probe's main() in-process: check mode opens no socket, bad input fails
before any traffic, and a real listener and probe on loopback (which forgets nothing, so
the probe reports no timeout up to max_idle)."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netstack.keepalive.plugins.module_utils._probe import _wire
from ansible_collections.netstack.keepalive.plugins.modules import keepalive_path_probe


@pytest.fixture(autouse=True)
def managed_host(monkeypatch):
    monkeypatch.setattr(ansible_internal, "is_controller", False)


def run(capsys, args, check_mode=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=False)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        keepalive_path_probe.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_sockets(monkeypatch):
    """Fails any attempt to open a socket: what check mode and bad input must never do."""

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_check_mode_returns_the_plan_and_opens_nothing(capsys, no_sockets):
    args = {"peer": "192.0.2.10", "port": 47001, "token": "unit-token", "max_idle": 60,
            "max_duration": 300, "resolution": 5}  # fmt: skip
    result = run(capsys, args, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is False
    assert result["plan"]["rounds"][0][-1] == 60
    assert result["plan"]["worst_case_seconds"] <= 300
    listen = run(capsys, {"role": "listen", "port": 47001, "token": "unit-token"}, check_mode=True)
    assert listen["listening"] is False and listen["listen_for"] == 1830


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"parallel": "many"}, "parallel"),
        ({"resolution": 100, "max_duration": 60, "max_idle": 30}, "resolution=100: must not"),
        ({"port": 0}, "port=0: give an integer from 1 to 65535"),
        ({"role": "stop", "peer": None}, "peer=None: role=stop needs the peer's address"),
    ],
)
def test_bad_input_fails_before_any_socket(capsys, no_sockets, args, message):
    result = run(capsys, dict({"peer": "192.0.2.10", "port": 47001, "token": "unit-token"}, **args))
    assert result["rc"] == 1 and result["failed"] and message in result["msg"], result


def test_a_real_probe_on_loopback_finds_no_timeout_up_to_max_idle(capsys):
    port = free_port()
    listener = _wire.Listener("127.0.0.1", port, "s3cret", 30)
    served = {}
    thread = threading.Thread(target=lambda: served.update(listener.serve()))
    thread.start()
    try:
        args = {"peer": "127.0.0.1", "port": port, "token": "s3cret", "min_idle": 1,
                "max_idle": 2, "max_duration": 20, "answer_within": 2, "parallel": 2}  # fmt: skip
        result = run(capsys, args)
        stopped = run(capsys, {"role": "stop", "peer": "127.0.0.1", "port": port,
                               "token": "s3cret"})  # fmt: skip
    finally:
        thread.join(10)  # the stop ends it
        listener.close()
    assert result["rc"] == 0, result
    assert result["idle_timeout"] == {"low": 2, "high": None}
    assert result["stopped_by"] == "max_idle" and result["path_override"] is None
    assert [c["outcome"] for c in result["rounds"][0]] == ["alive", "alive"]
    assert stopped["stopped"] is True
    assert served["served"] == 2 and served["refused"] == 0


def test_a_listener_refuses_a_connection_without_its_token():
    port = free_port()
    listener = _wire.Listener("127.0.0.1", port, "right", 10)
    thread = threading.Thread(target=listener.serve)
    thread.start()
    try:
        with pytest.raises(Exception, match="not the answer of the probe listener"):
            _wire.hello("127.0.0.1", port, "wrong", 2)
        _wire.hello("127.0.0.1", port, "right", 2)
    finally:
        listener.close()
        thread.join(10)
    assert listener.refused == 1


def test_a_listener_on_a_port_in_use_says_so():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(Exception, match=r"port=\d+: already in use on this host"):
            _wire.Listener("127.0.0.1", holder.getsockname()[1], "t", 5)

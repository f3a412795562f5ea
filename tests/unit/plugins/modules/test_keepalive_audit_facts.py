"""keepalive_audit_facts' main() in-process: the sysctl part against a fake host tree, the
socket part against this machine's real sockets; the sysctl part is what its own module
returns, the socket part judged as the audit action judges it is what keepalive_sockets_info
returns; and the module imports none of the policy code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _sockets_info
from ansible_collections.netstack.keepalive.plugins.modules import (
    keepalive_audit_facts,
    keepalive_sockets_info,
    keepalive_sysctl,
)

DEFAULTS = {"tcp_keepalive_time": 7200, "tcp_keepalive_intvl": 75, "tcp_keepalive_probes": 9}
CLOUD = {"tcp_keepalive_time": 180, "tcp_keepalive_intvl": 20, "tcp_keepalive_probes": 3}


@pytest.fixture
def host(tmp_path, monkeypatch):
    ipv4 = tmp_path / "proc/sys/net/ipv4"
    ipv4.mkdir(parents=True)
    for option, value in DEFAULTS.items():
        (ipv4 / option).write_text("%d\n" % value)
    (ipv4 / "tcp_retries2").write_text("15\n")
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    monkeypatch.setattr(keepalive_audit_facts, "ROOT", str(tmp_path))
    monkeypatch.setattr(keepalive_sysctl, "ROOT", str(tmp_path))
    monkeypatch.setattr(ansible_internal, "is_controller", False)
    return tmp_path


@pytest.fixture
def connection():
    """A real listener and a connection with SO_KEEPALIVE on, on a port of their own."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    client.connect(listener.getsockname())
    peer, _address = listener.accept()
    try:
        yield listener.getsockname()[1]
    finally:
        for item in (client, peer, listener):
            item.close()


def run(module, capsys, args, check_mode=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=False)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result


def snapshot(root):
    found = {}
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            with open(path, "rb") as handle:
                found[path] = handle.read()
    return found


def module_part(result):
    return {k: v for k, v in result.items() if k not in ("rc", "invocation", "elapsed")}


def test_each_part_is_what_its_module_returns_and_nothing_changes(host, connection, capsys):
    before = snapshot(host)
    sockets = {"ports": [connection], "path": ["aws_nlb"], "profile": "cloud",
               "require": ["no-such-service"]}  # fmt: skip
    wanted = _sockets_info.observation_wanted(sockets)
    gathering = {"ports": [connection]}
    audit = run(
        keepalive_audit_facts, capsys, {"sysctl": CLOUD, "sockets": dict(gathering, **wanted)}
    )
    assert audit["rc"] == 0 and audit["changed"] is False, audit
    sysctl = run(keepalive_sysctl, capsys, CLOUD, check_mode=True)
    assert audit["sysctl"] == module_part(sysctl)
    assert audit["sysctl"]["before"] == DEFAULTS and audit["sysctl"]["after"] == CLOUD
    assert "verdicts" not in audit["sockets"]  # the host only reads; the controller judges
    assert audit["sockets"]["crossing"] is not None and "unfiltered" in audit["sockets"]
    info = run(keepalive_sockets_info, capsys, sockets)
    params = ArgumentSpecValidator(_sockets_info.ARGUMENT_SPEC).validate(sockets)
    judged = _sockets_info.judge(audit["sockets"], params.validated_parameters)
    assert module_part(judged) == module_part(info) and info["verdicts"], (judged, info)
    assert judged["socket_count"] == 3  # listener, client, accepted peer
    assert "sysctl_error" not in audit
    assert snapshot(host) == before, "the audit changed the host"


def test_a_shadowed_key_with_on_shadowed_fail_is_recorded_not_failed(host, capsys):
    (host / "etc/sysctl.conf").write_text("net.ipv4.tcp_keepalive_time = 600\n")
    options = dict(CLOUD, on_shadowed="fail")
    audit = run(keepalive_audit_facts, capsys, {"sysctl": options})
    refused = run(keepalive_sysctl, capsys, options, check_mode=True)
    assert refused["failed"] and audit["rc"] == 0, (refused, audit)
    assert audit["sysctl_error"] == refused["msg"]
    assert "sysctl" not in audit and "sockets" not in audit


def test_a_host_that_cannot_take_the_values_fails_in_the_preflight(host, capsys):
    options = dict(CLOUD, netns="no-such-namespace")
    audit = run(keepalive_audit_facts, capsys, {"sysctl": options, "sockets": {}})
    alone = run(keepalive_sysctl, capsys, options, check_mode=True)
    assert audit["failed"] and audit["stage"] == "preflight", audit
    assert (audit["msg"], audit["option"]) == (alone["msg"], "netns")
    assert "sockets" not in audit  # nothing else is asked


@pytest.mark.parametrize(
    "args, option, text",
    [
        ({"states": []}, "states", "states=[]: give one or more of"),
        ({"ports": [70000]}, "ports", "70000 is not a TCP port"),
    ],
)
def test_bad_socket_options_fail_naming_the_option(host, capsys, args, option, text):
    audit = run(keepalive_audit_facts, capsys, {"sysctl": CLOUD, "sockets": args})
    assert audit["failed"] and audit["stage"] == "sockets" and audit["option"] == option
    assert text in audit["msg"]


def test_the_nested_options_are_checked_like_the_modules_own(host, capsys):
    audit = run(keepalive_audit_facts, capsys, {"sysctl": dict(CLOUD, on_shadowed="shrug")})
    assert audit["failed"] and "on_shadowed" in audit["msg"], audit
    assert run(keepalive_audit_facts, capsys, {})["changed"] is False


def test_the_host_side_imports_no_policy_code():
    """A module's imports are compiled from source on every host at every run: the audit's
    must not pull in the verdict code it leaves to the controller."""
    code = (
        "import sys; import ansible_collections.netstack.keepalive.plugins.modules."
        "keepalive_audit_facts; print(sorted(m for m in sys.modules if '._policy' in m "
        "or m.endswith('_sockets_info') or m.endswith('_adoption_checks')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert found.stdout.strip() == "[]", found.stdout

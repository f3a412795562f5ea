"""keepalive_sysctl's main() in-process against a fake host: what a playbook would see."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netstack.keepalive.plugins.modules import keepalive_sysctl

OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
DEFAULTS = {"tcp_keepalive_time": 7200, "tcp_keepalive_intvl": 75, "tcp_keepalive_probes": 9}


@pytest.fixture
def host(tmp_path, monkeypatch):
    ipv4 = tmp_path / "proc/sys/net/ipv4"
    ipv4.mkdir(parents=True)
    for option, value in DEFAULTS.items():
        (ipv4 / option).write_text("%d\n" % value)
    (ipv4 / "tcp_retries2").write_text("15\n")
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    monkeypatch.setattr(keepalive_sysctl, "ROOT", str(tmp_path))
    # Importing controller code (the filter tests do) makes module warnings go to the display
    # instead of the result; a module on a managed host is never in controller mode.
    monkeypatch.setattr(ansible_internal, "is_controller", False)
    return tmp_path


def snapshot(root):
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as handle:
                found[path] = (handle.read(), os.lstat(path).st_mode)
    return found


def run_module(capsys, args, check_mode=False, diff=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        keepalive_sysctl.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_info.value.code
    return result


def test_four_runs_from_string_arguments(host, capsys):
    args = {"tcp_keepalive_time": "120", "tcp_keepalive_intvl": "30", "tcp_keepalive_probes": 6}
    r_check = run_module(capsys, args, check_mode=True, diff=True)
    assert not (host / OURS.lstrip("/")).exists()
    r_real = run_module(capsys, args)
    r_idem_check = run_module(capsys, args, check_mode=True)
    r_idem = run_module(capsys, args)
    assert [r["changed"] for r in (r_check, r_real, r_idem_check, r_idem)] == [
        True,
        True,
        False,
        False,
    ]
    assert r_real["after"] == {
        "tcp_keepalive_time": 120,
        "tcp_keepalive_intvl": 30,
        "tcp_keepalive_probes": 6,
    }
    assert r_real["detection_seconds"] == 300
    assert [d["before_header"] for d in r_check["diff"]] == [
        OURS + " (absent)",
        "runtime (netns of the module)",
    ]
    assert "diff" not in r_real  # only with --diff


def test_shadowing_warns_through_module_warnings(host, capsys):
    (host / "etc/sysctl.conf").write_text("net.ipv4.tcp_keepalive_time = 7200\n")
    result = run_module(capsys, {"tcp_keepalive_time": 120, "on_shadowed": "warn"})
    assert result["changed"]
    # ansible-core 2.19 ships warnings as structured events; their text is what users read
    assert "is overridden at boot: /etc/sysctl.conf:1" in json.dumps(result["warnings"])


@pytest.mark.parametrize(
    "args, message",
    [
        ({"tcp_keepalive_time": 40000}, "tcp_keepalive_time=40000 is out of range; allowed: "),
        ({"tcp_keepalive_probes": True}, "tcp_keepalive_probes=True is a boolean"),
        ({"tcp_keepalive_intvl": "1.5"}, "tcp_keepalive_intvl='1.5' is not a whole number"),
        ({"tcp_keepalive_time": 60, "path": "/tmp/k.conf"}, "path='/tmp/k.conf' is outside"),
        ({"tcp_keepalive_time": 60, "mode": "rwx"}, "mode='rwx' is not a file mode"),
        ({"tcp_keepalive_time": 60, "mode": 644}, "mode=644 is the decimal number 644"),
        ({"tcp_keepalive_time": 60, "mode": "0666"}, "lets group or other users write"),
        ({"tcp_keepalive_time": 60, "netns": "/etc/passwd"}, "is not a network namespace"),
        (
            {"tcp_keepalive_time": 60, "path": "/etc/sysctl.d/10-admin.conf"},
            "path='/etc/sysctl.d/10-admin.conf' is a file this module did not write",
        ),
        ({"state": "absent", "path": "/etc/sysctl.d/10-admin.conf"}, "this module did not write"),
        ({"tcp_keepalive_time": 60, "bogus": 1}, "Unsupported parameters"),
        ({"tcp_keepalive_time": 60, "netns": "netstack-nope"}, "netns='netstack-nope': no such"),
        ({"state": "present"}, "state is present but any of the following are missing"),
        ({"tcp_keepalive_time": 60, "on_shadowed": "shrug"}, "value of on_shadowed must be one"),
        ({"tcp_retries2": 2}, "tcp_retries2=2 is refused: the kernel would give up"),
        ({"tcp_retries2": "256"}, "tcp_retries2=256 is out of range; allowed: "),
        ({"tcp_retries2": "yes"}, "tcp_retries2='yes' is not a whole number"),
    ],
)
def test_failures_change_nothing(host, capsys, args, message):
    (host / "etc/sysctl.d/10-admin.conf").write_text("net.ipv4.ip_forward = 1\n")
    pristine = snapshot(host)
    result = run_module(capsys, args)
    assert result["failed"] and result["rc"] == 1
    assert message in result["msg"]
    assert snapshot(host) == pristine


def test_shadowed_fail_is_the_default(host, capsys):
    (host / "etc/sysctl.d/99-zzz.conf").write_text("net.ipv4.tcp_keepalive_probes = 3\n")
    pristine = snapshot(host)
    result = run_module(capsys, {"tcp_keepalive_probes": 5})
    assert result["failed"]
    assert "/etc/sysctl.d/99-zzz.conf:1 sets net.ipv4.tcp_keepalive_probes = 3" in result["msg"]
    assert result["shadowed_by"][0]["file"] == "/etc/sysctl.d/99-zzz.conf"
    assert snapshot(host) == pristine


def test_non_linux_is_refused(host, capsys, monkeypatch):
    from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import (
        _params as _sysctl_params,
    )

    monkeypatch.setattr(_sysctl_params.sys, "platform", "darwin")
    pristine = snapshot(host)
    result = run_module(capsys, {"tcp_keepalive_time": 60})
    assert result["failed"] and "this host is 'darwin' (platform: Linux only)" in result["msg"]
    assert snapshot(host) == pristine


def test_unquoted_yaml_octal_mode_is_accepted(host, capsys):
    result = run_module(capsys, {"tcp_keepalive_time": 60, "mode": 0o640})
    assert result["changed"] and not result.get("failed")
    assert (host / OURS.lstrip("/")).stat().st_mode & 0o7777 == 0o640


def test_retries2_from_a_string_argument_runs_four_times(host, capsys):
    args = {"tcp_keepalive_time": 120, "tcp_retries2": "8"}
    results = [
        run_module(capsys, args, check_mode=True, diff=True),
        run_module(capsys, args),
        run_module(capsys, args, check_mode=True),
        run_module(capsys, args),
    ]
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert (host / "proc/sys/net/ipv4/tcp_retries2").read_text() == "8\n"
    assert results[1]["after"]["tcp_retries2"] == 8
    assert results[1]["boot_values"]["tcp_retries2"]["source"] == OURS + ":4"
    assert results[1]["detection_seconds"] == 120 + 75 * 9
    assert "net.ipv4.tcp_retries2 = 8" in results[0]["diff"][1]["after"]


def test_low_retries2_warns_through_module_warnings(host, capsys):
    result = run_module(capsys, {"tcp_retries2": 5})
    assert result["changed"]
    assert "less than the 100 s RFC 1122 asks for" in json.dumps(result["warnings"])

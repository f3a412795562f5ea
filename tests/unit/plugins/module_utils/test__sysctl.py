"""converge() on a fake host: plan, check mode, idempotence, shadowing, absent, undo."""

from __future__ import annotations

import os

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils import _sysctl
from ansible_collections.netstack.keepalive.plugins.module_utils import _sysctl_runtime as rt
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
WANT = {"tcp_keepalive_time": 120, "tcp_keepalive_intvl": 30, "tcp_keepalive_probes": 6}
DEFAULTS = {"tcp_keepalive_time": 7200, "tcp_keepalive_intvl": 75, "tcp_keepalive_probes": 9}


@pytest.fixture
def host(tmp_path):
    """A fake host: kernel defaults in /proc, an empty /etc/sysctl.d, a vendor file."""
    ipv4 = tmp_path / "proc/sys/net/ipv4"
    ipv4.mkdir(parents=True)
    for option, value in DEFAULTS.items():
        (ipv4 / option).write_text("%d\n" % value)
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    vendor = tmp_path / "usr/lib/sysctl.d/50-vendor.conf"
    vendor.parent.mkdir(parents=True)
    vendor.write_text("net.core.somaxconn = 4096\n")
    return tmp_path


def snapshot(root):
    """Every file under root with its content and mode: proof that nothing changed."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as handle:
                found[path] = (handle.read(), os.lstat(path).st_mode)
    return found


def runtime(root):
    return {o: int((root / "proc/sys/net/ipv4" / o).read_text()) for o in DEFAULTS}


def run(root, check_mode=False, want_diff=False, **params):
    return _sysctl.converge(params, check_mode=check_mode, want_diff=want_diff, root=str(root))


def test_four_runs_check_real_idempotent(host):
    pristine = snapshot(host)
    r_check, _warnings = run(host, check_mode=True, **WANT)
    assert snapshot(host) == pristine
    assert r_check["changed"] and r_check["after"] == WANT
    r_real, _warnings = run(host, **WANT)
    assert r_real["changed"] and runtime(host) == WANT
    r_idem_check, _warnings = run(host, check_mode=True, **WANT)
    r_idem, _warnings = run(host, **WANT)
    assert not r_idem_check["changed"] and not r_idem["changed"]
    assert r_real["before"] == DEFAULTS and r_real["after"] == WANT
    assert r_check["boot_values"] == r_real["boot_values"] == r_idem["boot_values"]


def test_our_file_content_mode_and_boot_values(host):
    result, warnings = run(host, **WANT)
    ours = host / OURS.lstrip("/")
    text = ours.read_text()
    assert text == _sysctl.HEADER + (
        "net.ipv4.tcp_keepalive_time = 120\n"
        "net.ipv4.tcp_keepalive_intvl = 30\n"
        "net.ipv4.tcp_keepalive_probes = 6\n"
    )
    assert oct(ours.stat().st_mode & 0o7777) == oct(0o644)
    assert result["boot_values"]["tcp_keepalive_intvl"] == {
        "value": 30,
        "source": OURS + ":4",
        "file": OURS,
        "line": 4,
    }
    assert result["detection_seconds"] == 120 + 30 * 6
    assert (result["file"], result["shadowed_by"], warnings) == (OURS, [], [])


def test_subset_keeps_other_keys_already_in_our_file(host):
    run(host, **WANT)
    result, _warnings = run(host, tcp_keepalive_time=300)
    text = (host / OURS.lstrip("/")).read_text()
    assert "tcp_keepalive_time = 300" in text and "tcp_keepalive_probes = 6" in text
    assert {o: v["value"] for o, v in result["boot_values"].items()} == dict(
        WANT, tcp_keepalive_time=300
    )


def test_foreign_lines_in_our_file_are_dropped(host):
    ours = host / OURS.lstrip("/")
    ours.write_text("net.core.somaxconn = 1\nnet.ipv4.tcp_keepalive_probes = 4\n")
    run(host, tcp_keepalive_time=300)
    assert ours.read_text() == _sysctl.HEADER + (
        "net.ipv4.tcp_keepalive_time = 300\nnet.ipv4.tcp_keepalive_probes = 4\n"
    )


def test_mode_only_change_is_a_change(host):
    run(host, **WANT)
    result, _warnings = run(host, mode="0600", **WANT)
    assert result["changed"] and result["file_changed"] and not result["runtime_changed"]
    assert (host / OURS.lstrip("/")).stat().st_mode & 0o7777 == 0o600


def test_persist_false_touches_no_file(host):
    pristine_files = {p: v for p, v in snapshot(host).items() if "/proc/" not in p}
    result, _warnings = run(host, persist=False, tcp_keepalive_time=600)
    assert {p: v for p, v in snapshot(host).items() if "/proc/" not in p} == pristine_files
    assert runtime(host)["tcp_keepalive_time"] == 600
    assert result["boot_values"]["tcp_keepalive_time"]["value"] == 7200  # lost at reboot


def test_apply_false_touches_no_runtime(host):
    result, _warnings = run(host, apply=False, **WANT)
    assert runtime(host) == DEFAULTS and result["after"] == DEFAULTS
    assert result["file_changed"] and not result["runtime_changed"]


@pytest.mark.parametrize(
    "shadow_path, shadow_text",
    [
        ("etc/sysctl.d/99-zzz.conf", "net.ipv4.tcp_keepalive_time = 7200\n"),
        ("etc/sysctl.conf", "# site\nnet/ipv4/tcp_keepalive_probes=3\n"),
    ],
    ids=["later-file", "sysctl-conf"],
)
def test_on_shadowed_fail_changes_nothing(host, shadow_path, shadow_text):
    (host / shadow_path).write_text(shadow_text)
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    message = str(err.value)
    assert message.startswith(OURS + " is overridden at boot: /" + shadow_path)
    assert "on_shadowed=fail; nothing was changed" in message
    assert snapshot(host) == pristine


def test_our_file_masked_fails(host):
    masker = host / "etc/sysctl.d/60-k.conf"
    os.symlink("/dev/null", masker)
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, path="/usr/lib/sysctl.d/60-k.conf", **WANT)
    assert "/etc/sysctl.d/60-k.conf masks /usr/lib/sysctl.d/60-k.conf" in str(err.value)
    assert snapshot(host) == pristine


def test_on_shadowed_warn_and_ignore(host):
    (host / "etc/sysctl.d/99-zzz.conf").write_text("net.ipv4.tcp_keepalive_time = 7200\n")
    result, warnings = run(host, on_shadowed="warn", **WANT)
    assert result["changed"] and runtime(host) == WANT
    assert result["shadowed_by"] == [
        {
            "file": "/etc/sysctl.d/99-zzz.conf",
            "line": 1,
            "key": "net.ipv4.tcp_keepalive_time",
            "value": 7200,
            "reason": "applied after " + OURS,
        }
    ]
    assert result["boot_values"]["tcp_keepalive_time"]["source"] == "/etc/sysctl.d/99-zzz.conf:1"
    assert warnings == [
        OURS + " is overridden at boot: /etc/sysctl.d/99-zzz.conf:1 sets "
        "net.ipv4.tcp_keepalive_time = 7200"
    ]
    result, warnings = run(host, on_shadowed="ignore", **WANT)
    assert not result["changed"] and warnings == [] and len(result["shadowed_by"]) == 1


def test_boot_problems_become_warnings(host):
    (host / "etc/sysctl.d/70-bad.conf").write_text("net.ipv4.tcp_keepalive_time = soon\n")
    result, warnings = run(host, **WANT)
    assert result["boot_problems"][0]["file"] == "/etc/sysctl.d/70-bad.conf"
    assert warnings[0].startswith("boot model: /etc/sysctl.d/70-bad.conf:1: ")


def test_absent_removes_file_and_restores_runtime(host):
    (host / "usr/lib/sysctl.d/50-vendor.conf").write_text("net.ipv4.tcp_keepalive_time = 900\n")
    run(host, **WANT)
    r_check, _warnings = run(host, check_mode=True, state="absent", restore_runtime=True)
    assert r_check["changed"] and (host / OURS.lstrip("/")).exists()
    result, _warnings = run(host, state="absent", restore_runtime=True)
    assert result["changed"] and not (host / OURS.lstrip("/")).exists()
    assert runtime(host) == dict(DEFAULTS, tcp_keepalive_time=900)
    assert result["boot_values"]["tcp_keepalive_time"]["source"] == (
        "/usr/lib/sysctl.d/50-vendor.conf:1"
    )
    again, _warnings = run(host, state="absent", restore_runtime=True)
    assert not again["changed"]


def test_absent_without_restore_keeps_runtime(host):
    run(host, **WANT)
    result, _warnings = run(host, state="absent")
    assert result["file_changed"] and not result["runtime_changed"] and runtime(host) == WANT


def test_diff_shows_file_and_runtime(host):
    result, _warnings = run(host, want_diff=True, check_mode=True, tcp_keepalive_time=120)
    file_diff, runtime_diff = result["diff"]
    assert file_diff["before"] == "" and "tcp_keepalive_time = 120" in file_diff["after"]
    assert (file_diff["before_header"], file_diff["after_header"]) == (
        OURS + " (absent)",
        OURS + " (mode 0644)",
    )
    assert runtime_diff["before_header"] == "runtime (netns of the module)"
    assert "net.ipv4.tcp_keepalive_time = 7200\n" in runtime_diff["before"]
    assert "net.ipv4.tcp_keepalive_time = 120\n" in runtime_diff["after"]


def test_runtime_failure_half_way_restores_file_and_values(host, monkeypatch):
    ours = host / OURS.lstrip("/")
    ours.write_text("net.ipv4.tcp_keepalive_probes = 4\n")
    os.chmod(ours, 0o640)
    pristine = snapshot(host)
    real = rt._write_proc_value

    def fail_on_time(root, key, value):
        if key.endswith("time") and value == 120:
            raise OSError(22, "Invalid argument")
        real(root, key, value)

    monkeypatch.setattr(rt, "_write_proc_value", fail_on_time)
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert "setting net.ipv4.tcp_keepalive_time=120 failed" in str(err.value)
    assert str(err.value).endswith(OURS + " was put back as it was")
    assert snapshot(host) == pristine


def test_file_write_failure_changes_nothing(host, monkeypatch):
    pristine = snapshot(host)

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rt, "write_file_atomic", full_disk)
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert str(err.value) == (
        "path=%r: cannot write it: No space left on device; nothing was changed" % OURS
    )
    assert snapshot(host) == pristine


def test_read_only_proc_fails_before_any_write(host, monkeypatch):
    monkeypatch.setattr(rt.os, "access", lambda path, mode: False)
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert "/proc/sys/net/ipv4 is read-only here" in str(err.value)
    assert snapshot(host) == pristine
    # nothing to write at runtime: persisting alone still works on a read-only /proc
    result, _warnings = run(host, apply=False, **WANT)
    assert result["file_changed"]


def test_missing_proc_fails(host):
    pristine = snapshot(host)
    for option in DEFAULTS:
        os.unlink(host / "proc/sys/net/ipv4" / option)
    os.rmdir(host / "proc/sys/net/ipv4")
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert str(err.value).startswith("/proc/sys/net/ipv4 does not exist")
    assert not (host / OURS.lstrip("/")).exists()
    assert set(snapshot(host)) == {p for p in pristine if "/proc/" not in p}


def test_symlinked_path_is_refused(host):
    os.symlink("/dev/null", host / OURS.lstrip("/"))
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert "is a symbolic link; refusing to replace it" in str(err.value)
    assert snapshot(host) == pristine and os.path.islink(host / OURS.lstrip("/"))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"tcp_keepalive_time": 0}, "tcp_keepalive_time=0 is out of range"),
        ({"tcp_keepalive_probes": True}, "tcp_keepalive_probes=True is a boolean"),
        ({"tcp_keepalive_intvl": "1.5"}, "tcp_keepalive_intvl='1.5' is not a whole number"),
        ({"tcp_keepalive_time": 60, "path": "/etc/keepalive.conf"}, "outside the sysctl.d"),
        ({"tcp_keepalive_time": 60, "mode": "rw"}, "mode='rw' is not a file mode"),
        ({"tcp_keepalive_time": 60, "netns": "netstack-nope"}, "no such network namespace"),
        ({"state": "present"}, "needs at least one of"),
    ],
)
def test_errors_change_nothing(host, params, message):
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, **params)
    assert message in str(err.value)
    assert snapshot(host) == pristine


def test_persisting_for_another_netns_warns_that_boot_does_not_reach_it(host, monkeypatch):
    monkeypatch.setattr(_sysctl, "validate", _with_netns(_sysctl.validate, "blue"))
    monkeypatch.setattr(_sysctl, "run_in_netns", lambda path, func, *args: func(*args))
    result, warnings = run(host, **WANT)
    assert result["changed"]
    assert warnings == [
        "netns=blue: %s is applied at boot to the host's initial network namespace only; a "
        "re-created blue starts from kernel defaults unless 'sysctl --system' runs inside it" % OURS
    ]
    _result, warnings = run(host, persist=False, **WANT)
    assert warnings == []


def _with_netns(validate, name):
    def fake(params):
        settings = validate(params)
        settings.update(netns=name, netns_path="/run/netns/" + name)
        return settings

    return fake


def test_a_file_under_run_is_volatile_and_says_so(host):
    result, warnings = run(host, path="/run/sysctl.d/60-k.conf", **WANT)
    assert result["file_changed"] and (host / "run/sysctl.d/60-k.conf").exists()
    assert warnings == [
        "path=/run/sysctl.d/60-k.conf: /run is emptied at every boot, so this file does not "
        "persist by itself (use /etc/sysctl.d unless something recreates it at boot)"
    ]


@pytest.mark.parametrize(
    "existing, before_time, after_time",
    [
        (None, (7200, "kernel default"), (120, OURS + ":3")),
        ("net.ipv4.tcp_keepalive_time = 300\n", (300, OURS + ":1"), (120, OURS + ":3")),
        ("# managed\nnet.ipv4.tcp_keepalive_time = 120\nnet.ipv4.tcp_keepalive_intvl = 30\n"
         "net.ipv4.tcp_keepalive_probes = 6\n", (120, OURS + ":2"), (120, OURS + ":3")),
    ],
)  # fmt: skip
def test_boot_values_before_are_what_a_reboot_gives_now(host, existing, before_time, after_time):
    if existing is not None:
        (host / OURS.lstrip("/")).write_text(existing)
    pristine = snapshot(host)
    result, _warnings = run(host, check_mode=True, **WANT)
    assert snapshot(host) == pristine
    now = result["boot_values_before"]["tcp_keepalive_time"]
    later = result["boot_values"]["tcp_keepalive_time"]
    assert (now["value"], now["source"]) == before_time
    assert (later["value"], later["source"]) == after_time

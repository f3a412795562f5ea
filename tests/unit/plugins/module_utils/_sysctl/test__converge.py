"""converge() on a fake host: plan, check mode, idempotence, shadowing, absent, undo."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import _converge as _sysctl
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import _runtime as rt
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
    (ipv4 / "tcp_retries2").write_text("15\n")
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    vendor = tmp_path / "usr/lib/sysctl.d/50-vendor.conf"
    vendor.parent.mkdir(parents=True)
    vendor.write_text("net.core.somaxconn = 4096\n")
    return tmp_path


def snapshot(root):
    """Every entry under root with its content (regular files only: a FIFO is never opened)
    and mode: proof that nothing changed."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + dirs:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            content = None
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    content = handle.read()
            elif stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            found[path] = (content, info.st_mode)
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
    ours.write_text(_sysctl.HEADER + "net.core.somaxconn = 1\nnet.ipv4.tcp_keepalive_probes = 4\n")
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
    ours.write_text(_sysctl.HEADER + "net.ipv4.tcp_keepalive_probes = 4\n")
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
    assert str(err.value).startswith("path=%r: cannot write it: No space left on device" % OURS)
    assert "allowed: a path in a writable sysctl.d directory" in str(err.value)
    assert str(err.value).endswith("nothing was changed")
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
    for option in (*DEFAULTS, "tcp_retries2"):
        os.unlink(host / "proc/sys/net/ipv4" / option)
    os.rmdir(host / "proc/sys/net/ipv4")
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert str(err.value).startswith("/proc/sys/net/ipv4 does not exist")
    assert not (host / OURS.lstrip("/")).exists()
    assert set(snapshot(host)) == {p for p in pristine if "/ipv4" not in p}


def test_symlinked_path_is_refused(host):
    os.symlink("/dev/null", host / OURS.lstrip("/"))
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert "is a symbolic link to /dev/null (-> /dev/null): a mask" in str(err.value)
    assert snapshot(host) == pristine and os.path.islink(host / OURS.lstrip("/"))


def _fifo(path):
    os.mkfifo(path)


def _directory(path):
    os.mkdir(path)


def _dangling(path):
    os.symlink("/nonexistent/ka.conf", path)


def _link(path):
    os.symlink("50-vendor.conf", path)


@pytest.mark.parametrize(
    "make, what",
    [
        (_fifo, "is a FIFO (named pipe), not a regular file"),
        (_directory, "is a directory, not a regular file"),
        (_dangling, "is a dangling symbolic link (-> /nonexistent/ka.conf)"),
        (_link, "is a symbolic link (-> 50-vendor.conf); point path at the real file"),
    ],
    ids=["fifo", "directory", "dangling-link", "link"],
)
@pytest.mark.parametrize("check_mode", [False, True], ids=["real", "check"])
@pytest.mark.parametrize("state", ["present", "absent"])
def test_non_regular_path_is_refused_without_blocking(host, make, what, check_mode, state):
    where = host / "usr/lib/sysctl.d/60-k.conf"
    make(str(where))
    pristine = snapshot(host)
    params = dict(WANT) if state == "present" else {"state": "absent"}
    with pytest.raises(KeepaliveError) as err:
        run(host, check_mode=check_mode, path="/usr/lib/sysctl.d/60-k.conf", **params)
    assert str(err.value).startswith("path='/usr/lib/sysctl.d/60-k.conf' " + what)
    assert "allowed: a path that does not exist yet or a regular file this module wrote" in str(
        err.value
    )
    assert snapshot(host) == pristine


@pytest.mark.parametrize(
    "path, content",
    [
        ("/etc/sysctl.d/10-admin.conf", "net.ipv4.ip_forward = 1\n"),
        ("/usr/lib/sysctl.d/50-vendor.conf", None),  # the vendor file of the fixture
        ("/etc/sysctl.d/90-netstack-keepalive.conf", ""),
        ("/etc/sysctl.d/90-netstack-keepalive.conf", "# Managed by Ansible\n"),
    ],
    ids=["admin", "vendor", "empty", "other-header"],
)
@pytest.mark.parametrize(
    "params",
    [WANT, {"state": "absent"}, {"state": "absent", "restore_runtime": True}],
    ids=["present", "absent", "absent-restore"],
)
@pytest.mark.parametrize("check_mode", [False, True], ids=["real", "check"])
def test_a_file_we_did_not_write_is_never_rewritten_or_removed(
    host, path, content, params, check_mode
):
    if content is not None:
        (host / path.lstrip("/")).write_text(content)
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, check_mode=check_mode, path=path, on_shadowed="ignore", **params)
    message = str(err.value)
    assert message.startswith("path=%r is a" % path)
    assert "this module did not write (it does not start with the line '# Managed by " in message
    assert "allowed: a path that does not exist yet or a file this module wrote" in message
    assert err.value.details["option"] == "path"
    assert snapshot(host) == pristine


def test_a_file_we_did_not_write_is_fine_when_it_is_not_touched(host):
    admin = host / "etc/sysctl.d/10-admin.conf"
    admin.write_text("net.ipv4.ip_forward = 1\n")
    result, _warnings = run(host, path="/etc/sysctl.d/10-admin.conf", persist=False, **WANT)
    assert result["runtime_changed"] and not result["file_changed"]
    assert admin.read_text() == "net.ipv4.ip_forward = 1\n"


LOCK = "/etc/sysctl.d/.90-netstack-keepalive.conf.lock"


def test_lock_file_beside_ours_is_made_by_writes_only_and_goes_with_absent(host):
    lock = host / LOCK.lstrip("/")
    run(host, check_mode=True, **WANT)
    run(host, persist=False, tcp_keepalive_time=600)
    assert not lock.exists()  # neither check mode nor a runtime-only change makes one
    run(host, **WANT)
    assert lock.exists() and stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert sorted(os.listdir(host / "etc/sysctl.d")) == [lock.name, "90-netstack-keepalive.conf"]
    result, _warnings = run(host, state="absent")
    assert result["changed"] and result["leftovers_removed"] == [LOCK]
    assert os.listdir(host / "etc/sysctl.d") == []


def test_stale_temporaries_of_ours_are_removed_and_reported(host):
    run(host, **WANT)
    directory = host / "etc/sysctl.d"
    ours = [".90-netstack-keepalive.conf.ab_c1234", ".90-netstack-keepalive.conf.zzzzzzzz"]
    others = [".10-admin.conf.ab_c1234", ".90-netstack-keepalive.conf.bak", "keep.tmp"]
    for name in ours + others:
        (directory / name).write_text("half\n")
    os.mkdir(directory / ".90-netstack-keepalive.conf.dir12345")  # ours by name, not a file
    check, _warnings = run(host, check_mode=True, **WANT)
    assert check["changed"] and not check["file_changed"] and not check["runtime_changed"]
    assert check["leftovers_removed"] == ["/etc/sysctl.d/" + n for n in sorted(ours)]
    assert (directory / ours[0]).exists()
    result, _warnings = run(host, **WANT)
    assert result["changed"] and result["leftovers_removed"] == check["leftovers_removed"]
    left = set(os.listdir(directory))
    assert not left & set(ours) and left >= set(others)
    again, _warnings = run(host, **WANT)
    assert not again["changed"]


def test_absent_removes_a_lock_file_left_without_our_file(host):
    (host / LOCK.lstrip("/")).write_text("")
    result, _warnings = run(host, state="absent")
    assert result["changed"] and result["leftovers_removed"] == [LOCK]
    assert os.listdir(host / "etc/sysctl.d") == []


def test_a_run_waits_for_the_lock_and_plans_again(host, monkeypatch):
    """While another run holds the lock, a run waits; it then plans from what it finds."""
    run(host, **WANT)
    holder = rt.FileLock(str(host), OURS)
    assert holder.acquire(exclusive=True, create=False)
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(result=run(host, tcp_keepalive_time=300)[0])
    )
    worker.start()
    worker.join(0.3)
    assert worker.is_alive()  # waiting for the lock (it read the old state under no lock)
    run_text = (host / OURS.lstrip("/")).read_text()
    assert "tcp_keepalive_time = 120" in run_text
    # "Another run" changes the time to 300 while it holds the lock: nothing is left to do.
    rt.write_file_atomic(str(host), OURS, run_text.replace("= 120", "= 300"), 0o644)
    (host / "proc/sys/net/ipv4/tcp_keepalive_time").write_text("300\n")
    holder.release()
    worker.join(10)
    assert not outcome["result"]["changed"], outcome["result"]
    assert outcome["result"]["before"]["tcp_keepalive_time"] == 300


def test_a_lock_held_too_long_is_a_clear_error(host, monkeypatch):
    run(host, **WANT)
    holder = rt.FileLock(str(host), OURS)
    assert holder.acquire(exclusive=True, create=False)
    monkeypatch.setattr(rt, "LOCK_TIMEOUT", 0.2)
    pristine = snapshot(host)
    try:
        with pytest.raises(KeepaliveError) as err:
            run(host, tcp_keepalive_time=300)
    finally:
        holder.release()
    assert "another run of keepalive_sysctl holds it" in str(err.value)
    assert str(err.value).startswith("path=%r: lock file %s: still held after 0 s" % (OURS, LOCK))
    assert snapshot(host) == pristine


@pytest.mark.parametrize(
    "params, message",
    [
        ({"tcp_keepalive_time": 0}, "tcp_keepalive_time=0 is out of range"),
        ({"tcp_keepalive_probes": True}, "tcp_keepalive_probes=True is a boolean"),
        ({"tcp_keepalive_intvl": "1.5"}, "tcp_keepalive_intvl='1.5' is not a whole number"),
        ({"tcp_keepalive_time": 60, "path": "/etc/keepalive.conf"}, "outside the sysctl.d"),
        ({"tcp_keepalive_time": 60, "mode": "rw"}, "mode='rw' is not a file mode"),
        ({"tcp_keepalive_time": 60, "mode": 644}, "quote it: '0644'"),
        ({"tcp_keepalive_time": 60, "mode": "0666"}, "lets group or other users write"),
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
        (
            _sysctl.HEADER + "net.ipv4.tcp_keepalive_time = 300\n",
            (300, OURS + ":3"),
            (120, OURS + ":3"),
        ),
        (
            _sysctl.HEADER.replace("\n#", "\n# (edited)") + "net.ipv4.tcp_keepalive_time = 120\n"
            "net.ipv4.tcp_keepalive_intvl = 30\nnet.ipv4.tcp_keepalive_probes = 6\n",
            (120, OURS + ":3"),
            (120, OURS + ":3"),
        ),
    ],
)
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


def test_a_failed_put_back_is_reported_loudly(host, monkeypatch):
    real = rt._write_proc_value

    def fail_on_time(root, key, value):
        if key.endswith("time"):
            raise OSError(22, "Invalid argument")
        real(root, key, value)

    def broken_restore(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rt, "_write_proc_value", fail_on_time)
    real_restore = rt.restore_file
    calls = []

    def restore_once_then_break(*args):
        calls.append(args)
        if len(calls) > 1:
            broken_restore()
        real_restore(*args)

    monkeypatch.setattr(rt, "restore_file", restore_once_then_break)
    with pytest.raises(KeepaliveError) as err:
        run(host, **WANT)
    assert str(err.value).endswith(
        "putting %s back as it was FAILED: No space left on device" % OURS
    )


# ---------------------------------------------------------------------------------------------
# tcp_retries2: optional, with every guarantee of the keepalive keys

RETRIES2 = "net.ipv4.tcp_retries2"


def retries2(root):
    return int((root / "proc/sys/net/ipv4/tcp_retries2").read_text())


def test_render_puts_retries2_after_the_keepalive_keys():
    text = _sysctl.render_file({"tcp_retries2": 8, "tcp_keepalive_probes": 6})
    assert text == _sysctl.HEADER + (
        "net.ipv4.tcp_keepalive_probes = 6\nnet.ipv4.tcp_retries2 = 8\n"
    )
    assert _sysctl.keys_in_file(text) == {"tcp_retries2": 8, "tcp_keepalive_probes": 6}


def test_retries2_set_persisted_and_idempotent(host):
    pristine = snapshot(host)
    check, warnings = run(host, check_mode=True, tcp_retries2=8, **WANT)
    assert snapshot(host) == pristine and warnings == []
    assert check["changed"] and check["after"] == dict(WANT, tcp_retries2=8)
    real, _warnings = run(host, tcp_retries2="8", **WANT)
    assert real["changed"] and retries2(host) == 8 and runtime(host) == WANT
    assert real["before"] == dict(DEFAULTS, tcp_retries2=15)
    assert (host / OURS.lstrip("/")).read_text() == _sysctl.HEADER + (
        "net.ipv4.tcp_keepalive_time = 120\n"
        "net.ipv4.tcp_keepalive_intvl = 30\n"
        "net.ipv4.tcp_keepalive_probes = 6\n"
        "net.ipv4.tcp_retries2 = 8\n"
    )
    assert real["boot_values"]["tcp_retries2"] == {
        "value": 8,
        "source": OURS + ":6",
        "file": OURS,
        "line": 6,
    }
    assert real["boot_values_before"]["tcp_retries2"]["source"] == "kernel default"
    assert real["detection_seconds"] == 120 + 30 * 6  # the idle figure: retries2 not in it
    again, _warnings = run(host, check_mode=True, tcp_retries2=8, **WANT)
    idem, _warnings = run(host, tcp_retries2=8, **WANT)
    assert not again["changed"] and not idem["changed"]
    assert idem["boot_values"] == idem["boot_values_before"] == real["boot_values"]


def test_retries2_alone_is_enough_for_present(host):
    result, _warnings = run(host, tcp_retries2=10)
    assert result["changed"] and retries2(host) == 10 and runtime(host) == DEFAULTS
    assert (host / OURS.lstrip("/")).read_text() == _sysctl.HEADER + "net.ipv4.tcp_retries2 = 10\n"


def test_without_the_option_retries2_is_left_alone(host):
    (host / "proc/sys/net/ipv4/tcp_retries2").write_text("12\n")
    result, _warnings = run(host, want_diff=True, **WANT)
    assert retries2(host) == 12
    assert "tcp_retries2" not in result["before"] and "tcp_retries2" not in result["after"]
    assert "tcp_retries2" not in result["boot_values"]
    assert "tcp_retries2" not in result["boot_values_before"]
    assert all("retries2" not in d["before"] + d["after"] for d in result["diff"])


def test_retries2_in_our_file_is_kept_by_a_run_without_it(host):
    run(host, tcp_retries2=9, **WANT)
    (host / "proc/sys/net/ipv4/tcp_retries2").write_text("11\n")  # drifted at runtime
    result, _warnings = run(host, tcp_keepalive_time=300)
    text = (host / OURS.lstrip("/")).read_text()
    assert text.endswith("net.ipv4.tcp_keepalive_probes = 6\nnet.ipv4.tcp_retries2 = 9\n")
    assert "tcp_keepalive_time = 300" in text
    assert retries2(host) == 11  # not passed: its runtime value is not ours to change now
    assert "tcp_retries2" not in result["before"]
    assert result["boot_values"]["tcp_retries2"] == {
        "value": 9,
        "source": OURS + ":6",
        "file": OURS,
        "line": 6,
    }


def test_retries2_of_another_file_is_reported_not_managed(host):
    (host / "usr/lib/sysctl.d/50-vendor.conf").write_text("net.ipv4.tcp_retries2 = 5\n")
    result, warnings = run(host, **WANT)
    assert result["boot_values"]["tcp_retries2"]["source"] == "/usr/lib/sysctl.d/50-vendor.conf:1"
    assert result["boot_values_before"]["tcp_retries2"]["value"] == 5
    assert result["shadowed_by"] == [] and warnings == []  # before ours: not a shadow
    assert "tcp_retries2" not in result["before"] and retries2(host) == 15


@pytest.mark.parametrize("managed_now", [True, False], ids=["given", "kept-from-earlier-run"])
def test_retries2_shadowed_by_a_later_file(host, managed_now):
    run(host, tcp_retries2=8, **WANT)
    (host / "etc/sysctl.d/99-zzz.conf").write_text("# site\nnet.ipv4.tcp_retries2 = 15\n")
    args = dict(WANT, tcp_retries2=6) if managed_now else dict(WANT)
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, **args)
    assert str(err.value).startswith(
        OURS + " is overridden at boot: /etc/sysctl.d/99-zzz.conf:2 sets %s = 15" % RETRIES2
    )
    assert err.value.details["shadowed_by"][0]["key"] == RETRIES2
    assert snapshot(host) == pristine
    result, warnings = run(host, on_shadowed="warn", **args)
    assert result["shadowed_by"] == [
        {
            "file": "/etc/sysctl.d/99-zzz.conf",
            "line": 2,
            "key": RETRIES2,
            "value": 15,
            "reason": "applied after " + OURS,
        }
    ]
    assert result["boot_values"]["tcp_retries2"]["source"] == "/etc/sysctl.d/99-zzz.conf:2"
    assert any("99-zzz.conf:2 sets net.ipv4.tcp_retries2 = 15" in w for w in warnings)


def test_retries2_check_mode_diff_changes_nothing(host):
    run(host, **WANT)
    pristine = snapshot(host)
    result, _warnings = run(host, check_mode=True, want_diff=True, tcp_retries2=8)
    assert snapshot(host) == pristine
    assert result["changed"] and result["file_changed"] and result["runtime_changed"]
    file_diff, runtime_diff = result["diff"]
    assert "tcp_retries2" not in file_diff["before"]
    assert file_diff["after"].endswith("net.ipv4.tcp_retries2 = 8\n")
    assert runtime_diff["before"].endswith("net.ipv4.tcp_retries2 = 15\n")
    assert runtime_diff["after"].endswith("net.ipv4.tcp_retries2 = 8\n")


@pytest.mark.parametrize(
    "vendor, restored, source",
    [
        (None, 15, "kernel default"),
        ("net.ipv4.tcp_retries2 = 12\n", 12, "/usr/lib/sysctl.d/50-vendor.conf:1"),
    ],
    ids=["kernel-default", "vendor-file"],
)
def test_absent_restores_retries2_to_its_boot_value(host, vendor, restored, source):
    if vendor:
        (host / "usr/lib/sysctl.d/50-vendor.conf").write_text(vendor)
    run(host, tcp_retries2=8, **WANT)
    assert retries2(host) == 8
    pristine = snapshot(host)
    check, _warnings = run(host, check_mode=True, state="absent", restore_runtime=True)
    assert snapshot(host) == pristine and check["after"]["tcp_retries2"] == restored
    result, _warnings = run(host, state="absent", restore_runtime=True)
    assert result["changed"] and not (host / OURS.lstrip("/")).exists()
    assert retries2(host) == restored and runtime(host) == DEFAULTS
    assert result["before"]["tcp_retries2"] == 8
    assert result["boot_values"]["tcp_retries2"]["source"] == source
    assert result["boot_values_before"]["tcp_retries2"]["source"] == OURS + ":6"
    again, _warnings = run(host, state="absent", restore_runtime=True)
    assert not again["changed"]


def test_absent_leaves_retries2_alone_when_it_was_not_ours(host):
    run(host, **WANT)
    (host / "proc/sys/net/ipv4/tcp_retries2").write_text("11\n")  # set by someone else
    result, _warnings = run(host, state="absent", restore_runtime=True)
    assert result["changed"] and retries2(host) == 11
    assert "tcp_retries2" not in result["before"] and "tcp_retries2" not in result["boot_values"]
    # given with state=absent: restored too (its value is not used)
    result, _warnings = run(host, state="absent", restore_runtime=True, tcp_retries2=8)
    assert result["runtime_changed"] and retries2(host) == 15


def test_absent_without_restore_keeps_retries2_runtime(host):
    run(host, tcp_retries2=8, **WANT)
    result, _warnings = run(host, state="absent")
    assert result["file_changed"] and not result["runtime_changed"] and retries2(host) == 8


@pytest.mark.parametrize(
    "value, warned",
    [(3, "after about 3 s"), (7, "after about 51 s"), (8, None), (15, None), (255, None)],
)
def test_retries2_below_rfc1122_warns(host, value, warned):
    result, warnings = run(host, tcp_retries2=value)
    assert result["changed"] and retries2(host) == value
    if warned is None:
        assert warnings == []
    else:
        assert warnings == [
            "tcp_retries2=%d: the kernel gives up on a connection with unacknowledged data %s "
            "of unanswered retransmissions, less than the 100 s RFC 1122 asks for "
            "(tcp_retries2=8 or more)" % (value, warned)
        ]


@pytest.mark.parametrize(
    "value, message",
    [
        (0, "tcp_retries2=0 is refused: the kernel would give up"),
        (2, "tcp_retries2=2 is refused: the kernel would give up"),
        (256, "tcp_retries2=256 is out of range"),
        (-1, "tcp_retries2=-1 is out of range"),
        (True, "tcp_retries2=True is a boolean"),
        ("1.5", "tcp_retries2='1.5' is not a whole number"),
    ],
)
@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("check_mode", [False, True], ids=["real", "check"])
def test_bad_retries2_changes_nothing(host, value, message, state, check_mode):
    run(host, tcp_retries2=8, **WANT)
    pristine = snapshot(host)
    with pytest.raises(KeepaliveError) as err:
        run(host, check_mode=check_mode, state=state, restore_runtime=True, tcp_retries2=value)
    assert message in str(err.value)
    assert "allowed: a whole number of retransmissions in 3..255" in str(err.value)
    assert err.value.details["option"] == "tcp_retries2"
    assert snapshot(host) == pristine


def test_retries2_write_failure_puts_everything_back(host, monkeypatch):
    run(host, tcp_keepalive_probes=4)
    pristine = snapshot(host)
    real = rt._write_proc_value

    def fail_on_retries2(root, key, value):
        if key == RETRIES2:
            raise OSError(22, "Invalid argument")
        real(root, key, value)

    monkeypatch.setattr(rt, "_write_proc_value", fail_on_retries2)
    with pytest.raises(KeepaliveError) as err:
        run(host, tcp_retries2=8, **WANT)
    assert "setting net.ipv4.tcp_retries2=8 failed: Invalid argument" in str(err.value)
    assert "restored net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes" in str(err.value)
    assert str(err.value).endswith(OURS + " was put back as it was")
    assert snapshot(host) == pristine

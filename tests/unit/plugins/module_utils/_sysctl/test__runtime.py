"""Runtime writes with undo, atomic file writes; failures injected on a fake tree."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import _runtime as rt
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

TIME = "net.ipv4.tcp_keepalive_time"
INTVL = "net.ipv4.tcp_keepalive_intvl"
PROBES = "net.ipv4.tcp_keepalive_probes"
KEYS = (TIME, INTVL, PROBES)


@pytest.fixture
def proc_root(tmp_path):
    ipv4 = tmp_path / "proc/sys/net/ipv4"
    ipv4.mkdir(parents=True)
    for name, value in (("time", 7200), ("intvl", 75), ("probes", 9)):
        (ipv4 / ("tcp_keepalive_" + name)).write_text("%d\n" % value)
    return str(tmp_path)


def test_read_and_write_runtime(proc_root):
    before = rt.read_runtime(proc_root, KEYS)
    assert before == {TIME: 7200, INTVL: 75, PROBES: 9}
    rt.write_runtime(proc_root, {TIME: 600, PROBES: 5}, before)
    assert rt.read_runtime(proc_root, KEYS) == {TIME: 600, INTVL: 75, PROBES: 5}


def _fail_on(monkeypatch, failing_key, undo_fails=False):
    real = rt._write_proc_value
    calls = []

    def fake(root, key, value):
        calls.append((key, value))
        if key == failing_key or (undo_fails and len(calls) > 2):
            raise OSError(22, "Invalid argument")
        real(root, key, value)

    monkeypatch.setattr(rt, "_write_proc_value", fake)
    return calls


def test_half_way_failure_restores_what_was_written(proc_root, monkeypatch):
    before = rt.read_runtime(proc_root, KEYS)
    calls = _fail_on(monkeypatch, TIME)  # keys are written in sorted order: intvl, probes, time
    with pytest.raises(KeepaliveError) as err:
        rt.write_runtime(proc_root, {TIME: 600, INTVL: 30, PROBES: 5}, before)
    message = str(err.value)
    assert message.startswith("setting net.ipv4.tcp_keepalive_time=600 failed: Invalid argument")
    assert "restored net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes" in message
    assert rt.read_runtime(proc_root, KEYS) == before
    assert calls[-2:] == [(PROBES, 9), (INTVL, 75)]  # undone newest first


def test_first_write_failure_says_nothing_was_written(proc_root, monkeypatch):
    before = rt.read_runtime(proc_root, KEYS)
    _fail_on(monkeypatch, INTVL)
    with pytest.raises(KeepaliveError) as err:
        rt.write_runtime(proc_root, {INTVL: 30, TIME: 600}, before)
    assert str(err.value).endswith("nothing had been written yet")
    assert rt.read_runtime(proc_root, KEYS) == before


def test_failed_undo_is_reported_loudly(proc_root, monkeypatch):
    before = rt.read_runtime(proc_root, KEYS)
    _fail_on(monkeypatch, TIME, undo_fails=True)
    with pytest.raises(KeepaliveError) as err:
        rt.write_runtime(proc_root, {TIME: 600, INTVL: 30, PROBES: 5}, before)
    assert "restoring the keys already written FAILED" in str(err.value)


def test_missing_proc_dir(tmp_path):
    with pytest.raises(KeepaliveError) as err:
        rt.check_proc_dir(str(tmp_path), need_write=False)
    assert str(err.value).startswith("/proc/sys/net/ipv4 does not exist")


def test_read_only_proc_dir(proc_root, monkeypatch):
    monkeypatch.setattr(rt.os, "access", lambda path, mode: False)
    rt.check_proc_dir(proc_root, need_write=False)  # reading is still fine
    with pytest.raises(KeepaliveError) as err:
        rt.check_proc_dir(proc_root, need_write=True)
    assert "/proc/sys/net/ipv4 is read-only here" in str(err.value)
    assert "apply=false" in str(err.value)


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640])
def test_atomic_write_sets_the_requested_mode(tmp_path, mode):
    rt.write_file_atomic(str(tmp_path), "/etc/sysctl.d/60-k.conf", "a = 1\n", mode)
    target = tmp_path / "etc/sysctl.d/60-k.conf"
    assert target.read_text() == "a = 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert os.listdir(target.parent) == ["60-k.conf"]  # no temp file left behind


def test_atomic_write_replaces_in_one_step(tmp_path):
    target = tmp_path / "etc/sysctl.d/60-k.conf"
    target.parent.mkdir(parents=True)
    target.write_text("old\n")
    inode = target.stat().st_ino
    rt.write_file_atomic(str(tmp_path), "/etc/sysctl.d/60-k.conf", "new\n", 0o644)
    assert target.read_text() == "new\n"
    assert target.stat().st_ino != inode  # renamed over, never rewritten in place


def test_atomic_write_failure_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "etc/sysctl.d/60-k.conf"
    target.parent.mkdir(parents=True)
    target.write_text("old\n")

    def broken_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rt.os, "rename", broken_rename)
    with pytest.raises(OSError):
        rt.write_file_atomic(str(tmp_path), "/etc/sysctl.d/60-k.conf", "new\n", 0o644)
    assert target.read_text() == "old\n"
    assert os.listdir(target.parent) == ["60-k.conf"]


def test_read_text_file_and_restore(tmp_path):
    path = "/etc/sysctl.d/60-k.conf"
    assert rt.read_text_file(str(tmp_path), path) == (None, None)
    rt.restore_file(str(tmp_path), path, "x = 1\n", 0o600)
    assert rt.read_text_file(str(tmp_path), path) == ("x = 1\n", 0o600)
    rt.restore_file(str(tmp_path), path, None, None)
    assert rt.read_text_file(str(tmp_path), path) == (None, None)
    rt.remove_file(str(tmp_path), path)  # already gone is fine


def test_read_text_file_of_a_directory(tmp_path):
    (tmp_path / "etc/sysctl.d/60-k.conf").mkdir(parents=True)
    with pytest.raises(KeepaliveError) as err:
        rt.read_text_file(str(tmp_path), "/etc/sysctl.d/60-k.conf")
    assert str(err.value).startswith(
        "path='/etc/sysctl.d/60-k.conf' is a directory, not a regular file; refusing"
    )


def test_read_text_file_of_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "etc/sysctl.d/60-k.conf"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    with pytest.raises(KeepaliveError) as err:
        rt.read_text_file(str(tmp_path), "/etc/sysctl.d/60-k.conf")
    assert "is a FIFO (named pipe), not a regular file" in str(err.value)


@pytest.mark.parametrize(
    "target, words",
    [
        ("/dev/null", "is a symbolic link to /dev/null (-> /dev/null): a mask"),
        ("../../dev/null", "is a symbolic link to /dev/null (-> ../../dev/null): a mask"),
        ("/gone.conf", "is a dangling symbolic link (-> /gone.conf)"),
        ("other.conf", "is a symbolic link (-> other.conf); point path at the real file"),
    ],
)
def test_read_text_file_of_a_link(tmp_path, target, words):
    directory = tmp_path / "etc/sysctl.d"
    directory.mkdir(parents=True)
    (directory / "other.conf").write_text("x = 1\n")
    os.symlink(target, directory / "60-k.conf")
    with pytest.raises(KeepaliveError) as err:
        rt.read_text_file(str(tmp_path), "/etc/sysctl.d/60-k.conf")
    assert str(err.value).startswith("path='/etc/sysctl.d/60-k.conf' " + words)


def test_read_text_file_unreadable(tmp_path, monkeypatch):
    target = tmp_path / "etc/sysctl.d/60-k.conf"
    target.parent.mkdir(parents=True)
    target.write_text("x = 1\n")

    def denied(*args):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(rt.os, "open", denied)
    with pytest.raises(KeepaliveError) as err:
        rt.read_text_file(str(tmp_path), "/etc/sysctl.d/60-k.conf")
    assert str(err.value).startswith(
        "path='/etc/sysctl.d/60-k.conf': cannot read it: Permission denied; allowed: "
    )


def test_stale_temporaries_match_our_pattern_only(tmp_path):
    directory = tmp_path / "etc/sysctl.d"
    directory.mkdir(parents=True)
    for name in (
        ".60-k.conf.abcd_123",
        ".60-k.conf.lock",
        ".60-k.conf.abcd1234x",
        "60-k.conf",
        ".60-kXconf.abcd1234",
        ".other.conf.abcd1234",
        ".60-k.conf.abcd1234",
    ):
        (directory / name).write_text("")
    os.symlink("/etc/passwd", directory / ".60-k.conf.link1234")
    found = rt.stale_temporaries(str(tmp_path), "/etc/sysctl.d/60-k.conf")
    assert found == ["/etc/sysctl.d/.60-k.conf.abcd1234", "/etc/sysctl.d/.60-k.conf.abcd_123"]


def test_temp_files_of_write_file_atomic_match_the_stale_pattern(tmp_path, monkeypatch):
    seen = []
    real = rt.os.rename

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real(src, dst)

    monkeypatch.setattr(rt.os, "rename", spy)
    rt.write_file_atomic(str(tmp_path), "/etc/sysctl.d/60-k.conf", "a = 1\n", 0o644)
    assert rt.temp_name_pattern("/etc/sysctl.d/60-k.conf").match(seen[0])


def test_lock_shared_exclusive_and_removal(tmp_path):
    path = "/etc/sysctl.d/60-k.conf"
    reader = rt.FileLock(str(tmp_path), path)
    assert reader.acquire(exclusive=False, create=False) is False  # nothing made
    assert not (tmp_path / "etc").exists()
    writer = rt.FileLock(str(tmp_path), path)
    assert writer.acquire(exclusive=True, create=True)
    lock = tmp_path / "etc/sysctl.d/.60-k.conf.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    writer.release(undo=True)  # a failed run takes back what it made: lock and directories
    assert not (tmp_path / "etc").exists()
    assert writer.acquire(exclusive=True, create=True)
    writer.release()
    assert lock.exists()
    assert reader.acquire(exclusive=False, create=False)
    reader.release(remove=True)
    assert not lock.exists()


def test_lock_file_that_is_a_link_is_refused(tmp_path):
    directory = tmp_path / "etc/sysctl.d"
    directory.mkdir(parents=True)
    os.symlink("/etc/passwd", directory / ".60-k.conf.lock")
    with pytest.raises(KeepaliveError) as err:
        rt.FileLock(str(tmp_path), "/etc/sysctl.d/60-k.conf").acquire(True, True)
    assert str(err.value).startswith(
        "path='/etc/sysctl.d/60-k.conf': lock file /etc/sysctl.d/.60-k.conf.lock: cannot open"
    )


def test_unreadable_runtime_value_is_a_clear_error(proc_root):
    (open(os.path.join(proc_root, "proc/sys/net/ipv4/tcp_keepalive_intvl"), "w")).close()
    with pytest.raises(KeepaliveError) as err:
        rt.read_runtime(proc_root, KEYS)
    assert str(err.value).startswith("cannot read the runtime value of " + INTVL)
    assert str(err.value).endswith("nothing was changed")

"""Ownership and exact keepalive options of real sockets held by real child processes."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _procfd


def _sysctl(name):
    with open("/proc/sys/net/ipv4/tcp_keepalive_" + name) as handle:
        return int(handle.read())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("off", (False, None, None, None, None)),
        ("defaults", (True, "time", "intvl", "probes", None)),
        ("app", (True, 600, 30, 4, None)),
        ("idle-only", (True, 45, "intvl", "probes", None)),
        ("values-without-keepalive", (False, None, None, None, None)),
        ("defaults-peer", (False, None, None, None, None)),
        ("listener", (False, None, None, None, None)),
        # TCP_USER_TIMEOUT is read with keepalive off too; milliseconds become seconds
        ("user-timeout", (False, None, None, None, 5.0)),
        ("keepalive-user-timeout", (True, 60, "intvl", "probes", 2.5)),
    ],
)
def test_exact_options_through_pidfd_getfd(holder, name, expected):
    pid, inodes = holder
    found, refused = _procfd.scan(set(inodes.values()), pids=[pid])
    want = tuple(_sysctl(v) if isinstance(v, str) else v for v in expected)
    assert _procfd.options_of(found[inodes[name]]) == want
    assert found[inodes[name]][0] == pid
    assert refused == {}


def test_user_timeout_read_can_be_turned_off(holder, monkeypatch):
    """The benchmark's "before" figure: without the read, every entry says None."""
    pid, inodes = holder
    monkeypatch.setattr(_procfd, "READ_USER_TIMEOUT", False)
    found, _refused = _procfd.scan({inodes["user-timeout"]}, pids=[pid])
    assert _procfd.options_of(found[inodes["user-timeout"]]) == (False, None, None, None, None)


@pytest.mark.parametrize("ms, seconds", [(0, None), (None, None), (5000, 5.0), (1, 0.001)])
def test_user_timeout_seconds(ms, seconds):
    assert _procfd.user_timeout_seconds(ms) == seconds


def test_scan_of_all_processes_finds_the_holder_and_only_wanted_inodes(holder):
    pid, inodes = holder
    wanted = {inodes["app"], inodes["listener"]}
    found, _refused = _procfd.scan(wanted)
    assert set(found) == wanted
    assert found[inodes["app"]][0] == pid


def test_readlink_fallback_without_exact_gives_owners_but_no_options(holder):
    pid, inodes = holder
    found, refused = _procfd.scan(set(inodes.values()), exact=False, pids=[pid])
    assert set(found) == set(inodes.values())
    assert {_procfd.options_of(entry) for entry in found.values()} == {None}
    assert refused == {}


@pytest.mark.parametrize("probed", [False, True])
def test_refused_duplication_falls_back_to_readlink(holder, monkeypatch, probed):
    """Listed or probed by number (holes included), a refusing process keeps its owners."""
    pid, inodes = holder

    def refuse(*_args):
        ctypes.set_errno(errno.EPERM)
        return -1

    monkeypatch.setattr(_procfd, "_libc_syscall", lambda: refuse)
    item = (pid, 0, os.stat("/proc/%d/fd" % pid).st_size + 64, 1) if probed else pid
    found, refused = _procfd.scan(set(inodes.values()), pids=[item])
    assert {_procfd.options_of(entry) for entry in found.values()} == {None}
    assert refused == {pid: "pidfd_getfd: Operation not permitted"}
    assert set(found) == set(inodes.values())  # ownership still known


def test_shared_socket_is_reported_under_its_lowest_pid(shared_listener):
    inode, mine, theirs = shared_listener
    found, _refused = _procfd.scan({inode}, pids=sorted([mine, theirs]))
    assert found[inode][0] == min(mine, theirs)
    assert _procfd.options_of(found[inode])[0] is True


def test_exact_options_supported_here():
    assert _procfd.exact_options_support() is None


CGROUPS_HEADER = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"


@pytest.mark.parametrize(
    "lines, expected",
    [
        (["cpu\t1\t1\t1", "net_cls\t0\t1\t1", "net_prio\t0\t1\t1"], []),  # v2 only
        (["net_cls\t4\t3\t1", "net_prio\t0\t1\t1"], ["net_cls"]),
        (["net_cls,net_prio\t4\t3\t1"], []),  # not a line the kernel writes: ignored
        (["net_cls\t4\t3\t1", "net_prio\t4\t3\t1"], ["net_cls", "net_prio"]),
        (["net_prio\t6\t1\t0"], []),  # disabled
    ],
)
def test_retagging_controllers_reads_v1_net_cls_and_net_prio(tmp_path, lines, expected):
    cgroups = tmp_path / "cgroups"
    cgroups.write_text(CGROUPS_HEADER + "\n".join(lines) + "\n")
    assert _procfd.retagging_controllers(str(cgroups)) == expected


def test_exact_options_refused_where_duplicating_would_reclassify_traffic(tmp_path):
    cgroups = tmp_path / "cgroups"
    cgroups.write_text(CGROUPS_HEADER + "net_cls\t4\t3\t1\nnet_prio\t5\t1\t1\n")
    assert _procfd.exact_options_support(str(cgroups)) == (
        "cgroup v1 net_cls and net_prio mounted: a socket duplicated by pidfd_getfd takes the "
        "auditor's class id / priority, which would reclassify the services' traffic"
    )
    assert _procfd.retagging_controllers(str(tmp_path / "missing")) == []


def test_exact_options_support_explains_an_old_kernel(monkeypatch):
    def enosys(*_args):
        ctypes.set_errno(errno.ENOSYS)
        return -1

    monkeypatch.setattr(_procfd, "_libc_syscall", lambda: enosys)
    assert _procfd.exact_options_support() == (
        "pidfd_getfd refused: Function not implemented (needs Linux >= 5.6)"
    )


@pytest.mark.parametrize(
    "path, unit",
    [
        ("/system.slice/nginx.service", "nginx.service"),
        ("/system.slice/redis-server.service/worker", "redis-server.service"),
        ("/user.slice/user-0.slice/session-3.scope", "session-3.scope"),
        ("/kubepods/pod1/abc", "/kubepods/pod1/abc"),
        ("/", "/"),
        ("", None),
        (None, None),
    ],
)
def test_unit_from_cgroup(path, unit):
    assert _procfd.unit_from_cgroup(path) == unit


def test_comm_and_cgroup_of_ourselves():
    with open("/proc/self/comm") as handle:
        assert _procfd.read_comm(os.getpid()) == handle.read().strip()
    assert _procfd.read_cgroup_path(os.getpid()).startswith("/")
    assert _procfd.read_comm(2**22 + 7) is None  # beyond pid_max: no such process


def test_cgroup_paths_maps_ids_to_directories(tmp_path):
    root = _procfd.unified_cgroup_root()
    assert root is not None, "this host has no cgroup v2 hierarchy; the audit needs one"
    name = "ut-procfd-%d" % os.getpid()
    os.mkdir(os.path.join(root, name))
    try:
        cid = os.stat(os.path.join(root, name)).st_ino
        assert _procfd.cgroup_paths({cid, 1}) == {cid: "/" + name, 1: "/"}
    finally:
        os.rmdir(os.path.join(root, name))


def test_probing_fd_numbers_in_two_shares_finds_what_listing_finds(holder):
    """``(pid, first, stop, step)`` items try numbers; holes (no such fd) are skipped."""
    pid, inodes = holder
    wanted = set(inodes.values())
    listed, _refused = _procfd.scan(wanted, pids=[pid])
    odd_listed, _refused = _procfd.scan(wanted, pids=[(pid, 1, 0, 2)])  # listed, odd fds only
    size = os.stat("/proc/%d/fd" % pid).st_size + 64  # beyond the last fd: a few holes too
    even, _refused = _procfd.scan(wanted, pids=[(pid, 0, size, 2)])
    odd, _refused = _procfd.scan(wanted, pids=[(pid, 1, size, 2)])
    assert even and odd and not set(even) & set(odd)
    assert {**even, **odd} == listed
    assert odd_listed == odd
    assert set(listed) == wanted


def test_shared_socket_is_represented_by_its_lowest_pid_whatever_the_scan_order(shared_listener):
    inode, mine, theirs = shared_listener
    pids = sorted([mine, theirs])
    found, _refused = _procfd.scan({inode}, pids=pids[::-1])  # highest pid first
    assert found[inode][0] == pids[0]
    assert _procfd.options_of(found[inode])[0] is True

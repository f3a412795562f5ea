"""Ownership and exact keepalive options of real sockets held by real child processes."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import subprocess
import sys

import pytest
from ansible_collections.netstack.keepalive.plugins.module_utils import _procfd

# A child that opens one listener and connections with the options it is given, prints
# {name: inode} and holds them until its stdin closes.
HOLDER = r"""
import json, os, socket, sys
specs = json.loads(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
held = {"listener": listener}
for name, opts in specs.items():
    client = socket.socket()
    if opts.get("keepalive"):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for key, opt in (("idle", socket.TCP_KEEPIDLE), ("intvl", socket.TCP_KEEPINTVL),
                     ("cnt", socket.TCP_KEEPCNT)):
        if key in opts:
            client.setsockopt(socket.IPPROTO_TCP, opt, opts[key])
    client.connect(listener.getsockname())
    held[name] = client
    held[name + "-peer"] = listener.accept()[0]
print(json.dumps({k: os.fstat(s.fileno()).st_ino for k, s in held.items()}), flush=True)
sys.stdin.read()
"""

SPECS = {
    "off": {},
    "defaults": {"keepalive": True},
    "app": {"keepalive": True, "idle": 600, "intvl": 30, "cnt": 4},
    "idle-only": {"keepalive": True, "idle": 45},
    "values-without-keepalive": {"idle": 100},
}


@pytest.fixture(scope="module")
def holder():
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps(SPECS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        inodes = json.loads(proc.stdout.readline())
        yield proc.pid, inodes
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def _sysctl(name):
    with open("/proc/sys/net/ipv4/tcp_keepalive_" + name) as handle:
        return int(handle.read())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("off", (False, None, None, None)),
        ("defaults", (True, "time", "intvl", "probes")),
        ("app", (True, 600, 30, 4)),
        ("idle-only", (True, 45, "intvl", "probes")),
        ("values-without-keepalive", (False, None, None, None)),
        ("defaults-peer", (False, None, None, None)),
        ("listener", (False, None, None, None)),
    ],
)
def test_exact_options_through_pidfd_getfd(holder, name, expected):
    pid, inodes = holder
    found, refused = _procfd.scan(set(inodes.values()), pids=[pid])
    want = tuple(_sysctl(v) if isinstance(v, str) else v for v in expected)
    assert _procfd.options_of(found[inodes[name]]) == want
    assert found[inodes[name]][0] == pid
    assert refused == {}


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


def test_refused_duplication_falls_back_to_readlink(holder, monkeypatch):
    pid, inodes = holder

    def refuse(*_args):
        ctypes.set_errno(errno.EPERM)
        return -1

    monkeypatch.setattr(_procfd, "_libc_syscall", lambda: refuse)
    found, refused = _procfd.scan(set(inodes.values()), pids=[pid])
    assert {_procfd.options_of(entry) for entry in found.values()} == {None}
    assert refused == {pid: "pidfd_getfd: Operation not permitted"}
    assert set(found) == set(inodes.values())  # ownership still known


def test_shared_socket_is_reported_under_its_lowest_pid():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    inode = os.fstat(listener.fileno()).st_ino
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=(listener.fileno(),),
    )
    try:
        found, _refused = _procfd.scan({inode}, pids=sorted([os.getpid(), child.pid]))
        assert found[inode][0] == min(os.getpid(), child.pid)
        assert _procfd.options_of(found[inode])[0] is True
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        listener.close()


def test_exact_options_supported_here():
    assert _procfd.exact_options_support() is None


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


def test_forked_scan_finds_what_the_inline_scan_finds(holder):
    pid, inodes = holder
    found, _refused = _procfd.finish_scan(_procfd.start_scan(exact=True, jobs=2))
    inline, _refused = _procfd.scan(set(inodes.values()), pids=[pid])
    for inode in inodes.values():
        assert found[inode] == inline[inode]


def test_a_dead_scan_child_is_redone_in_process(holder):
    pid, inodes = holder
    handles = _procfd.start_scan(exact=True, jobs=1)
    for child, *_rest in handles:
        os.kill(child, 9)
    found, _refused = _procfd.finish_scan(handles)
    assert found[inodes["app"]][0] == pid
    assert _procfd.options_of(found[inodes["app"]]) == (True, 600, 30, 4)


@pytest.mark.parametrize(
    "counts, jobs, expected",
    [
        ({1: 100, 2: 10, 3: 10, 4: 80}, 2, [[1], [2, 3, 4]]),
        ({1: 5, 2: 5}, 4, [[1], [2]]),  # fewer pids than jobs: no empty groups
        ({1: 0, 2: 0, 3: 0}, 1, [[1, 2, 3]]),
    ],
)
def test_split_work_gives_small_processes_whole_to_the_lightest_child(
    monkeypatch, counts, jobs, expected
):
    monkeypatch.setattr(_procfd, "_fd_count", lambda pid, proc: counts[pid])
    groups = _procfd.split_work(sorted(counts), jobs)
    assert sorted(sorted(pid for pid, *_rest in group) for group in groups) == expected
    assert {item[1:] for group in groups for item in group} == {(0, 1, 0)}  # whole, listed


def test_split_work_shares_big_processes_and_probes_only_dense_fd_tables(monkeypatch):
    counts = {10: 5000, 11: 4000, 12: 30}
    table_sizes = {10: 8192, 11: 65536}  # 10 is dense, 11 sparse (one fd far up)
    monkeypatch.setattr(_procfd, "_fd_count", lambda pid, proc: counts[pid])
    monkeypatch.setattr(_procfd, "_fd_table_size", lambda pid, proc: table_sizes[pid])
    groups = _procfd.split_work(sorted(counts), 2)
    assert groups == [
        [(10, 0, 2, 8192), (11, 0, 2, 0), (12, 0, 1, 0)],
        [(11, 1, 2, 0), (10, 1, 2, 8192)],  # starts elsewhere: no contention on one process
    ]


@pytest.mark.parametrize(
    "count, size, parts, expected",
    [
        (14290, 16384, 1, 16384),  # a busy proxy: a few holes beat listing every fd
        (9000, 16384, 1, 0),  # 7384 refused probes cost more than listing 9000 fds once...
        (9000, 16384, 2, 16384),  # ...but not than listing them in both children
        (1000, 1 << 20, 2, 0),  # a sparse table: list
        (1000, 0, 2, 0),  # FDSize unreadable: list
    ],
)
def test_probe_below_weighs_probing_against_listing(monkeypatch, count, size, parts, expected):
    monkeypatch.setattr(_procfd, "_fd_table_size", lambda pid, proc: size)
    assert _procfd._probe_below(1, count, parts, "/proc") == expected


def test_fd_table_size_bounds_every_open_fd():
    size = _procfd._fd_table_size(os.getpid(), "/proc")
    assert size >= 64 and size % 64 == 0
    assert max(int(name) for name in os.listdir("/proc/self/fd")) < size
    assert _procfd._fd_table_size(2**22 + 7, "/proc") == 0  # no such process


def test_probing_fd_numbers_in_two_shares_finds_what_listing_finds(holder):
    pid, inodes = holder
    wanted = set(inodes.values())
    listed, _refused = _procfd.scan(wanted, pids=[pid])
    size = _procfd._fd_table_size(pid, "/proc")
    even, _refused = _procfd.scan(wanted, pids=[(pid, 0, 2, size)])
    odd, _refused = _procfd.scan(wanted, pids=[(pid, 1, 2, size)])
    assert even and odd and not set(even) & set(odd)
    assert {**even, **odd} == listed
    assert set(listed) == wanted


def test_shared_socket_across_two_scan_groups_keeps_the_lowest_pid_and_the_values():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    inode = os.fstat(listener.fileno()).st_ino
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=(listener.fileno(),),
    )
    try:
        mine = _procfd.scan({inode}, pids=[os.getpid()])
        theirs = _procfd.scan({inode}, exact=False, pids=[child.pid])
        assert _procfd.options_of(theirs[0][inode]) is None  # only ours read the values
        handles = [(None, theirs, [], True, "/proc"), (None, mine, [], True, "/proc")]
        found, _refused = _procfd.finish_scan(handles)
        assert found[inode][0] == min(os.getpid(), child.pid)
        assert _procfd.options_of(found[inode])[0] is True  # from the group that could read it
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        listener.close()


def test_shared_socket_is_represented_by_its_lowest_pid_whatever_the_scan_order():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    inode = os.fstat(listener.fileno()).st_ino
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=(listener.fileno(),),
    )
    try:
        pids = sorted([os.getpid(), child.pid])
        found, _refused = _procfd.scan({inode}, pids=pids[::-1])  # highest pid first
        assert found[inode][0] == pids[0]
        assert _procfd.options_of(found[inode])[0] is True
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        listener.close()

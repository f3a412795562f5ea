"""The socket scan spread over forked children: planning, the shared queue, merging."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys

import pytest
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _parallel_scan,
    _procfd,
)


def test_forked_scan_finds_what_the_inline_scan_finds(holder):
    pid, inodes = holder
    handles = _parallel_scan.start_scan(exact=True, jobs=2, inline_below=0)
    assert None not in [handle[0] for handle in handles]  # children scanned
    found, _refused = _parallel_scan.finish_scan(handles)
    inline, _refused = _procfd.scan(set(inodes.values()), pids=[pid])
    for inode in inodes.values():
        assert found[inode] == inline[inode]


def test_a_host_of_few_fds_is_scanned_in_the_caller(holder):
    pid, inodes = holder
    handles = _parallel_scan.start_scan(exact=True, jobs=2, inline_below=10**9)
    assert [handle[0] for handle in handles] == [None]  # no child was made
    found, _refused = _parallel_scan.finish_scan(handles)
    forked, _refused = _parallel_scan.finish_scan(
        _parallel_scan.start_scan(exact=True, jobs=2, inline_below=0)
    )
    for inode in inodes.values():
        assert found[inode] == forked[inode]
        assert found[inode][0] == pid


def test_without_fd_counts_no_host_is_small(monkeypatch):
    """Before Linux 6.2 /proc/PID/fd has no size: the fd total is unknown, so children scan."""
    counted = [(3, 1), (2, 2)]
    assert _parallel_scan._is_small(counted, "/proc", 1000)
    monkeypatch.setattr(_parallel_scan, "_fd_count", lambda pid, proc: 0)
    assert not _parallel_scan._is_small(counted, "/proc", 1000)


# A process with more fds than SPLIT_FDS: unconnected TCP sockets, keepalive on every third
# with idle = 100 + its index. Prints {inode: [keepalive, idle]} and holds them until stdin
# closes.
BIG_HOLDER = r"""
import json, os, resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held, expected = [], {}
for index in range(int(sys.argv[1])):
    sock = socket.socket()
    if index % 3 == 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 100 + index)
    held.append(sock)
    on = index % 3 == 0
    expected[os.fstat(sock.fileno()).st_ino] = [on, 100 + index if on else None]
print(json.dumps(expected), flush=True)
sys.stdin.read()
"""


@pytest.fixture()
def big_holder():
    proc = subprocess.Popen(
        [sys.executable, "-c", BIG_HOLDER, "1500"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        expected = {int(k): tuple(v) for k, v in json.loads(proc.stdout.readline()).items()}
        yield proc.pid, expected
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


@pytest.mark.parametrize("kill", [None, 0, 1])
def test_big_process_is_scanned_in_queued_chunks_even_when_a_child_dies(
    big_holder, monkeypatch, kill
):
    pid, expected = big_holder
    monkeypatch.setattr(_parallel_scan, "CHUNK_FDS", 256)  # several chunks of its 2048
    groups, chunks = _parallel_scan.plan_scan([pid], 2)
    assert groups == [[], []] and len(chunks) == 8  # the table is dense: probed, queued
    handles = _parallel_scan.start_scan(exact=True, jobs=2)
    if kill is not None:
        os.kill(handles[kill][0], 9)  # its chunks (whichever it took) are redone here
    found, _refused = _parallel_scan.finish_scan(handles)
    got = {inode: found[inode] for inode in expected}
    assert {inode: entry[0] for inode, entry in got.items()} == dict.fromkeys(expected, pid)
    assert {inode: entry[1:3] for inode, entry in got.items()} == expected


def test_a_dead_scan_child_is_redone_in_process(holder):
    pid, inodes = holder
    handles = _parallel_scan.start_scan(exact=True, jobs=1, inline_below=0)
    for child, *_rest in handles:
        os.kill(child, 9)
    found, _refused = _parallel_scan.finish_scan(handles)
    assert found[inodes["app"]][0] == pid
    assert _procfd.options_of(found[inodes["app"]]) == (True, 600, 30, 4, None)


@pytest.mark.parametrize(
    "counts, jobs, expected",
    [
        ({1: 100, 2: 10, 3: 10, 4: 80}, 2, [[1], [2, 3, 4]]),
        ({1: 5, 2: 5}, 4, [[1], [2]]),  # fewer pids than jobs and no queue: no empty groups
        ({1: 0, 2: 0, 3: 0}, 1, [[1, 2, 3]]),
    ],
)
def test_plan_gives_small_processes_whole_to_the_lightest_child(
    monkeypatch, counts, jobs, expected
):
    monkeypatch.setattr(_parallel_scan, "_fd_count", lambda pid, proc: counts[pid])
    groups, chunks = _parallel_scan.plan_scan(sorted(counts), jobs)
    assert sorted(sorted(pid for pid, *_rest in group) for group in groups) == expected
    assert {item[1:] for group in groups for item in group} == {(0, 0, 1)}  # whole, listed
    assert chunks == []


def test_plan_queues_chunks_of_dense_big_processes_and_shares_sparse_ones(monkeypatch):
    counts = {10: 5000, 11: 4000, 12: 30}
    table_sizes = {10: 8192, 11: 65536}  # 10 is dense, 11 sparse (one fd far up)
    monkeypatch.setattr(_parallel_scan, "_fd_count", lambda pid, proc: counts[pid])
    monkeypatch.setattr(_parallel_scan, "_fd_table_size", lambda pid, proc: table_sizes[pid])
    groups, chunks = _parallel_scan.plan_scan(sorted(counts), 2)
    assert groups == [[(11, 0, 0, 2), (12, 0, 0, 1)], [(11, 1, 0, 2)]]
    assert chunks == [
        (10, 0, 2048, 1),
        (10, 2048, 4096, 1),
        (10, 4096, 6144, 1),
        (10, 6144, 8192, 1),
    ]


def test_plan_keeps_a_child_per_job_when_only_the_queue_has_work(monkeypatch):
    monkeypatch.setattr(_parallel_scan, "_fd_count", lambda pid, proc: 3000)
    monkeypatch.setattr(_parallel_scan, "_fd_table_size", lambda pid, proc: 4096)
    groups, chunks = _parallel_scan.plan_scan([7], 3)
    assert groups == [[], [], []] and chunks == [(7, 0, 2048, 1), (7, 2048, 4096, 1)]


@pytest.mark.parametrize("processes", [4, 300])
def test_plan_never_overflows_the_queue_and_covers_every_fd_number_once(monkeypatch, processes):
    sizes = {pid: (1 << 20) >> (pid % 8) for pid in range(1, processes + 1)}
    monkeypatch.setattr(_parallel_scan, "_fd_count", lambda pid, proc: sizes[pid] - 1)
    monkeypatch.setattr(_parallel_scan, "_fd_table_size", lambda pid, proc: sizes[pid])
    groups, chunks = _parallel_scan.plan_scan(sorted(sizes), 2)
    assert len(chunks) <= _parallel_scan.MAX_CHUNKS
    items = chunks + [item for group in groups for item in group]
    for pid, size in sizes.items():  # probed whole in a group, or in chunks of the queue
        spans = sorted((first, stop) for owner, first, stop, step in items if owner == pid)
        assert spans[0][0] == 0 and spans[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    whole = [item for group in groups for item in group]
    assert len(whole) == max(0, processes - _parallel_scan.QUEUED_PROCESSES)
    if whole:  # the whole ones are the smallest, spread over both children
        assert max(sizes[pid] for pid, *_rest in whole) <= min(sizes[pid] for pid, *_rest in chunks)
        assert all(groups)


def test_queue_hands_each_chunk_to_exactly_one_reader():
    chunks = [(pid, first, first + 8, 1) for pid in range(1, 40) for first in (0, 8)]
    queue = _parallel_scan._make_queue(chunks)
    readers = []
    try:
        for _reader in range(3):
            read_end, write_end = os.pipe()
            child = os.fork()
            if child == 0:  # pragma: no cover - checked through its output
                os.close(read_end)
                taken = list(_parallel_scan._queued(queue))
                os.write(write_end, marshal.dumps(taken))
                os._exit(0)
            os.close(write_end)
            readers.append((child, read_end))
    finally:
        os.close(queue)
    taken = []
    for child, read_end in readers:
        with os.fdopen(read_end, "rb") as source:
            taken += marshal.loads(source.read())
        assert os.waitpid(child, 0)[1] == 0
    assert sorted(taken) == sorted(chunks)


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
    monkeypatch.setattr(_parallel_scan, "_fd_table_size", lambda pid, proc: size)
    assert _parallel_scan._probe_below(1, count, parts, "/proc") == expected


def test_fd_table_size_bounds_every_open_fd():
    size = _parallel_scan._fd_table_size(os.getpid(), "/proc")
    assert size >= 64 and size % 64 == 0
    assert max(int(name) for name in os.listdir("/proc/self/fd")) < size
    assert _parallel_scan._fd_table_size(2**22 + 7, "/proc") == 0  # no such process


def test_shared_socket_across_two_scan_groups_keeps_the_lowest_pid_and_the_values(
    shared_listener,
):
    inode, mine, theirs = shared_listener
    ours = _procfd.scan({inode}, pids=[mine])
    its = _procfd.scan({inode}, exact=False, pids=[theirs])
    assert _procfd.options_of(its[0][inode]) is None  # only ours read the values
    found, _refused = _parallel_scan.merge_parts([its, ours])
    assert found[inode][0] == min(mine, theirs)
    assert _procfd.options_of(found[inode])[0] is True  # from the group that could read it


def test_without_fork_every_share_and_chunk_is_scanned_in_process(big_holder, monkeypatch):
    pid, expected = big_holder
    monkeypatch.setattr(_parallel_scan, "CHUNK_FDS", 256)

    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    handles = _parallel_scan.start_scan(exact=True, jobs=2)
    assert [handle[0] for handle in handles] == [None, None]  # no child was made
    found, _refused = _parallel_scan.finish_scan(handles)
    assert {inode: found[inode][1:3] for inode in expected} == expected


def test_abandoned_scan_leaves_no_child_behind():
    handles = _parallel_scan.start_scan(exact=True, jobs=2, inline_below=0)
    children = [handle[0] for handle in handles]
    assert children and None not in children
    _parallel_scan.abandon_scan(handles)
    for child in children:
        with pytest.raises(ChildProcessError):  # reaped: no zombie left to wait for
            os.waitpid(child, os.WNOHANG)

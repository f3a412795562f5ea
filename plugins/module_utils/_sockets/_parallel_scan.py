# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the /proc socket scan of ``_procfd`` in forked children, one per CPU (stdlib only).

This module_util is private to the netstack.keepalive collection; it may change at any time.

The scan is a long run of cheap syscalls (100,000 sockets: ~0.6 CPU s). Children spread it
over the CPUs while the caller dumps the network namespaces. The work is cut in two kinds:

- small processes go whole to one child each, balanced by fd count (the kernel counts a
  process's fds in ``st_size`` of /proc/PID/fd since Linux 6.2);
- a big process (a proxy, a database) whose fd table is dense is cut into chunks of fd
  numbers that the children take from a shared queue (a pipe) as they finish, so they end
  together whatever else the CPUs are doing. A big sparse table is listed and shared
  ``fd % jobs`` instead.

Children send their ``(found, refused)`` back ``marshal``led; a child that dies has its
share redone in the caller. A host with few fds in all is scanned in the caller alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import itertools
import marshal
import os
import signal
import struct

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._procfd import (
    process_ids,
    scan,
)

# A process with at least this many fds is shared by every child; smaller ones go whole.
SPLIT_FDS = 1000
# Fewer fds than this on the whole host (a container, a small VM: the scan takes about a
# millisecond) are scanned in the caller: forking the children would cost more. Measured on
# a host of 16 fds: 6.1 ms of CPU for the audit's gather with children, 2.7 ms without.
INLINE_FDS = 1000
# fd numbers per queued chunk: ~10 ms of work, so children finish within ~10 ms of each other.
CHUNK_FDS = 2048
# The queue is written before any child reads it, so it must fit in a pipe that nobody
# drains yet: one page, which every pipe has.
_ITEM = struct.Struct("=iiii")  # pid, first, stop, step: a _procfd.scan item
MAX_CHUNKS = 4096 // _ITEM.size
QUEUED_PROCESSES = MAX_CHUNKS // 4  # more dense processes than that go whole to a child


def _fd_count(pid, proc):
    try:
        return os.stat("%s/%s/fd" % (proc, pid)).st_size  # number of fds since Linux 6.2
    except OSError:
        return 0


def _fd_table_size(pid, proc):
    """The capacity of the process's fd table (``FDSize``): every fd number is below it."""
    try:
        with open("%s/%d/status" % (proc, pid)) as handle:
            for line in handle:
                if line.startswith("FDSize:"):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError):
        pass
    return 0


def _probe_below(pid, count, parts, proc):
    """FDSize when trying each fd number costs less than listing /proc/PID/fd, else 0.

    Listing costs ~1.2 us per open fd (the kernel makes a dentry for each) and every one of
    the ``parts`` children sharing a listed process lists it all; a number with no fd costs
    a refused pidfd_getfd, ~2.6 us. A busy server's table is dense (FDSize is the next power
    of two), so probing usually wins.
    """
    size = _fd_table_size(pid, proc)
    holes = size - count
    return size if holes >= 0 and holes * 2 < parts * count else 0


def _counted(pids, proc):
    """``[(fd count, pid)]``, the most fds first."""
    return sorted(((_fd_count(pid, proc), pid) for pid in pids), reverse=True)


def _is_small(counted, proc, inline_below):
    """Whether the processes hold fewer than ``inline_below`` fds in all, as far as the
    kernel counts them (before Linux 6.2 it does not: then nothing is small)."""
    if _fd_count("self", proc) == 0:
        return False
    return sum(count for count, _pid in counted) < inline_below


def plan_scan(pids, jobs, proc="/proc"):
    """``(groups, chunks)``: ``jobs`` lists of scan items with about as many fds each, and
    the chunks of big dense processes any child takes (``_procfd.scan`` items)."""
    return _plan(_counted(pids, proc), jobs, proc)


def _plan(counted, jobs, proc):
    groups = [[] for _job in range(jobs)]
    loads = [0] * jobs
    queued = []  # the largest dense processes, at most QUEUED_PROCESSES of them

    def give_whole(item, count):
        lightest = loads.index(min(loads))
        groups[lightest].append(item)
        loads[lightest] += count + 1

    for count, pid in counted:
        size = _probe_below(pid, count, jobs, proc) if count >= SPLIT_FDS else 0
        if size and len(queued) < QUEUED_PROCESSES:
            queued.append((pid, size))
        elif size:
            give_whole((pid, 0, size, 1), count)
        elif count >= SPLIT_FDS and jobs > 1:  # big but sparse: every child lists a share
            for part in range(jobs):
                groups[part].append((pid, part, 0, jobs))
                loads[part] += count // jobs + 1
        else:
            give_whole((pid, 0, 0, 1), count)
    # Each process adds at most one partial chunk: the queue keeps to MAX_CHUNKS.
    total = sum(size for _pid, size in queued)
    step = max(CHUNK_FDS, -(-total // (MAX_CHUNKS - len(queued))))
    chunks = [
        (pid, first, min(first + step, size), 1)
        for pid, size in queued
        for first in range(0, size, step)
    ]
    if not chunks:  # no queue to share: a child per non-empty group is enough
        groups = [group for group in groups if group]
    return groups, chunks


def _queued(queue):
    """Chunks read one at a time from the shared queue until it is empty."""
    while True:
        # Every chunk is in the pipe before any child reads, and a pipe read copies under the
        # pipe's lock: asking for exactly one item, each child gets whole items, each once.
        data = os.read(queue, _ITEM.size)
        if len(data) < _ITEM.size:
            return
        yield _ITEM.unpack(data)


def _make_queue(chunks):
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"".join(_ITEM.pack(*chunk) for chunk in chunks))
    finally:
        os.close(write_end)  # readers see the end of the queue once it is empty
    return read_end


def start_scan(exact=True, jobs=2, proc="/proc", inline_below=INLINE_FDS):
    """Fork ``jobs`` children that scan every process's sockets while the caller goes on.

    Returns handles for ``finish_scan``. A share no child could be forked for, and a whole
    scan of fewer than ``inline_below`` fds, is left to the caller: ``finish_scan`` scans it
    once the children are done.
    """
    counted = _counted(process_ids(proc), proc)
    if _is_small(counted, proc, inline_below):
        return [(None, None, [(pid, 0, 0, 1) for _count, pid in counted], exact, proc)]
    groups, chunks = _plan(counted, jobs, proc)
    queue = _make_queue(chunks)
    handles = []
    try:
        for group in groups:
            redo = group + chunks  # a dead child may have taken any chunk
            read_end, write_end = os.pipe()
            try:
                child = os.fork()
            except OSError:
                os.close(read_end)
                os.close(write_end)
                handles.append((None, None, redo, exact, proc))
                continue
            if child == 0:  # pragma: no cover - the child's work is checked through its output
                status = 1
                try:
                    os.close(read_end)
                    items = itertools.chain(group, _queued(queue))
                    with os.fdopen(write_end, "wb") as out:
                        out.write(marshal.dumps(scan(None, exact, proc, items)))
                    status = 0
                finally:
                    os._exit(status)
            os.close(write_end)
            handles.append((child, read_end, redo, exact, proc))
    finally:
        os.close(queue)
    return handles


def abandon_scan(handles):
    """Stop and reap the scanning children (the caller failed before ``finish_scan``)."""
    for child, handle, _items, _exact, _proc in handles:
        if child is None:
            continue
        os.close(handle)
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass  # already gone
        os.waitpid(child, 0)


def _receive(child, read_end):
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    _pid, status = os.waitpid(child, 0)
    if status != 0 or not data:
        raise OSError(errno.ECHILD, "socket scan child %d failed (status %d)" % (child, status))
    return marshal.loads(data)


def finish_scan(handles):
    """Merge the children's results; same shape as ``_procfd.scan`` (every socket found)."""
    parts, here = [], []
    for child, handle, items, exact, proc in handles:
        if child is None:
            here.append((items, exact, proc))
            continue
        try:
            parts.append(_receive(child, handle))
        except (OSError, EOFError, ValueError, TypeError):
            # The child died (OOM killer, a signal): do its share here, slower but whole.
            here.append((items, exact, proc))
    # Only now, with every child gone: while this process scans, it holds duplicates of
    # other processes' sockets, and a child scanning this process's fds would count this
    # (lower) pid as their owner.
    parts.extend(scan(None, exact, proc, items) for items, exact, proc in here)
    return merge_parts(parts)


def merge_parts(parts):
    """One ``(found, refused)`` from the ``_procfd.scan`` results of the shares."""
    found, refused = {}, {}
    for part, part_refused in parts:
        refused.update(part_refused)
        if not found:
            found = part  # the first share is the base: no copy of its 50,000 entries
            continue
        # A socket shared by processes of two children (master + worker) is rare: merge those
        # few by hand, the rest with dict.update at C speed.
        for key in part.keys() & found.keys():
            part[key] = _merged(found[key], part[key])
        found.update(part)
    return found, refused


def _merged(mine, theirs):
    """One entry for a socket two scans found: the lowest pid, the values whoever read them."""
    return (min(mine[0], theirs[0]),) + (mine[1:] or theirs[1:])

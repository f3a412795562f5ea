# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns a socket, and its exact keepalive options (standard library only).

This module_util is private to the netstack.keepalive collection; it may change at any time.

Ownership comes from /proc/PID/fd. The exact SO_KEEPALIVE / TCP_KEEPIDLE / TCP_KEEPINTVL /
TCP_KEEPCNT / TCP_USER_TIMEOUT come from ``pidfd_getfd`` (Linux >= 5.6) + ``getsockopt`` on
the duplicate: the duplicate is never read or written and is closed at once, and ``fstat``
on it says which socket we really hold (fd numbers get reused while we look). Once a
process's pidfd is open, duplicating each of its fds costs about what ``readlink`` would, so
the duplicate *is* the ownership scan; ``readlink`` is only the fallback where duplication is
refused.

``getsockopt`` returns the socket's own value, or the namespace's sysctl when the application
set none (the kernel stores 0); only a value different from the namespace default proves the
application set it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import os
import platform
import socket
import stat

# The C socket type: wrapping a borrowed fd costs a third of socket.socket's Python __init__,
# which matters 100,000 times over. Only getsockopt and detach are called on it.
from _socket import socket as _raw_socket

from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import is_linux

SYS_PIDFD_OPEN = 434  # same number on every architecture since Linux 5.3
SYS_PIDFD_GETFD = 438  # Linux 5.6
UNIFIED_CGROUP_MOUNTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
UNIT_SUFFIXES = (".service", ".scope")

_SOL_SOCKET = socket.SOL_SOCKET
_SO_KEEPALIVE = socket.SO_KEEPALIVE
_TCP = socket.IPPROTO_TCP
_KEEPIDLE = getattr(socket, "TCP_KEEPIDLE", 4)
_KEEPINTVL = getattr(socket, "TCP_KEEPINTVL", 5)
_KEEPCNT = getattr(socket, "TCP_KEEPCNT", 6)
_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)  # milliseconds, 0: none set
# Whether the scan reads TCP_USER_TIMEOUT (one getsockopt per socket); the benchmark turns it
# off to measure what it costs. Off, every entry says None.
READ_USER_TIMEOUT = True

_syscall = None


def _libc_syscall():
    global _syscall
    if _syscall is None:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.syscall
        func.restype = ctypes.c_long
        # No argtypes: ctypes then passes Python ints as C ints (libffi widens them to the
        # 64-bit registers syscall(2) reads) and skips a from_param conversion per argument,
        # which halves the cost of the 100,000 pidfd_getfd calls of a busy host.
        _syscall = func
    return _syscall


def _pidfd_open(pid):
    if hasattr(os, "pidfd_open"):
        return os.pidfd_open(pid)
    result = _libc_syscall()(SYS_PIDFD_OPEN, pid, 0, 0)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def retagging_controllers(cgroups="/proc/cgroups"):
    """The cgroup v1 controllers mounted here that pidfd_getfd would re-tag sockets for.

    The kernel treats a duplicate as a received fd: it gives the socket the *receiver's*
    net_cls class id and net_prio index (``__receive_sock``, as for SCM_RIGHTS). Without
    those v1 hierarchies every socket carries the root's values and nothing changes; with
    them, reading the options would reclassify other services' traffic.
    """
    found = []
    try:
        with open(cgroups) as handle:
            for line in handle:
                name, hierarchy, _count, enabled = (line.split() + ["", "", "", ""])[:4]
                mounted_v1 = hierarchy not in ("0", "") and enabled == "1"
                if name in ("net_cls", "net_prio") and mounted_v1:
                    found.append(name)
    except (IOError, OSError):
        pass  # no /proc/cgroups: a kernel without cgroups re-tags nothing
    return found


def exact_options_support(cgroups="/proc/cgroups"):
    """None when pidfd_getfd can work here, else the reason it cannot (a sentence)."""
    if not is_linux():
        return "pidfd_getfd needs Linux"
    if platform.machine() not in ("x86_64", "aarch64", "arm64", "ppc64le", "s390x", "riscv64"):
        return "pidfd_getfd syscall number not known for %s" % platform.machine()
    retagging = retagging_controllers(cgroups)
    if retagging:
        return (
            "cgroup v1 %s mounted: a socket duplicated by pidfd_getfd takes the auditor's "
            "class id / priority, which would reclassify the services' traffic"
            % " and ".join(retagging)
        )
    try:
        pidfd = _pidfd_open(os.getpid())
    except OSError as exc:
        return "pidfd_open refused: %s (needs Linux >= 5.3)" % exc.strerror
    try:
        probe = os.open("/dev/null", os.O_RDONLY)
        try:
            dup = _libc_syscall()(SYS_PIDFD_GETFD, pidfd, probe, 0)
            if dup < 0:
                err = ctypes.get_errno()
                return "pidfd_getfd refused: %s (needs Linux >= 5.6)" % os.strerror(err)
            os.close(dup)
        finally:
            os.close(probe)
    finally:
        os.close(pidfd)
    return None


def process_ids(proc="/proc", skip=()):
    """Pids of all processes now visible, ascending."""
    return sorted(
        int(name) for name in os.listdir(proc) if name.isdigit() and int(name) not in skip
    )


def _scan_by_duplicate(pid, pidfd, fds, wanted, found, shared):
    """Duplicate each of ``fds`` of ``pid``; returns the errno when duplication is refused."""
    getfd = _libc_syscall()
    fstat = os.fstat
    close = os.close
    is_socket = stat.S_ISSOCK
    intern = shared.setdefault
    # pidfd_getfd returns the lowest free fd and each duplicate is closed before the next, so
    # the duplicates mostly get one number: one socket object wraps that number and is reused.
    # This saves the getsockname(2) the socket constructor does, and an object, per socket.
    sock = sock_fd = None
    duplicated = False
    read_timeout = READ_USER_TIMEOUT
    try:
        for fd in fds:
            dup = getfd(SYS_PIDFD_GETFD, pidfd, fd, 0)
            if dup < 0:
                err = ctypes.get_errno()
                if err in (errno.EPERM, errno.EACCES, errno.ENOSYS) and not duplicated:
                    return err
                continue  # EBADF: closed meanwhile
            duplicated = True
            try:
                info = fstat(dup)
                inode = info.st_ino
                if not is_socket(info.st_mode) or (wanted is not None and inode not in wanted):
                    continue
                if inode in found:  # shared with an owner already asked (master + workers)
                    _lower_owner(found, inode, pid)
                    continue
                if dup != sock_fd:
                    if sock is not None:
                        sock.detach()
                    sock = _raw_socket(socket.AF_INET, socket.SOCK_STREAM, _TCP, dup)
                    sock_fd = dup
                try:
                    # Bounds retransmissions and probes alike, so it is read with keepalive
                    # off too.
                    user_timeout = sock.getsockopt(_TCP, _USER_TIMEOUT) if read_timeout else None
                    if sock.getsockopt(_SOL_SOCKET, _SO_KEEPALIVE):
                        entry = (
                            pid,
                            True,
                            sock.getsockopt(_TCP, _KEEPIDLE),
                            sock.getsockopt(_TCP, _KEEPINTVL),
                            sock.getsockopt(_TCP, _KEEPCNT),
                            user_timeout,
                        )
                    else:  # idle..cnt have no effect while keepalive is off
                        entry = (pid, False, None, None, None, user_timeout)
                except OSError:
                    entry = (pid,)  # not TCP after all (reused fd): the timer will tell
                # A host's sockets share a handful of (pid, values): one tuple each keeps the
                # scan's memory and the marshalled answer small.
                found[inode] = intern(entry, entry)
            finally:
                close(dup)
    finally:
        if sock is not None:
            sock.detach()  # the number is closed already; the object must not close it again
    return 0


def _lower_owner(found, key, pid):
    """A socket held by several processes is reported under its lowest pid."""
    entry = found[key]
    if pid < entry[0]:
        found[key] = (pid,) + entry[1:]


def _scan_by_readlink(pid, dir_fd, fds, wanted, found):
    readlink = os.readlink
    for fd in fds:
        try:
            target = readlink(str(fd), dir_fd=dir_fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inode = int(target[8:-1])
            if wanted is None or inode in wanted:
                if inode in found:
                    _lower_owner(found, inode, pid)
                else:
                    found[inode] = (pid,)


def scan(wanted, exact=True, proc="/proc", pids=None):
    """Owners and exact options of the sockets whose inode is in ``wanted`` (None: all).

    ``pids`` are pids, or ``(pid, first, stop, step)`` items (``_parallel_scan`` makes them)
    for a share of a process's fds: with ``stop`` the numbers ``range(first, stop, step)`` are
    tried one by one, without it the listed fds with ``fd % step == first``; None scans every
    process. The items may come from an iterator that is still being filled. Returns
    ``(found, refused)``, compact because a busy host has 100,000 sockets: ``found`` inode ->
    ``(pid, keepalive, idle, intvl, cnt, user_timeout)`` with the values read by getsockopt
    (``user_timeout`` in milliseconds, 0 when none is set), or ``(pid,)``
    where they could not be read, under the lowest pid holding the socket; ``refused`` pid ->
    reason for processes whose sockets could not be duplicated or listed.
    """
    found = {}
    refused = {}
    shared = {}
    for item in pids if pids is not None else process_ids(proc):
        pid, first, stop, step = item if isinstance(item, tuple) else (item, 0, 0, 1)
        try:
            dir_fd = os.open("%s/%d/fd" % (proc, pid), os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                refused[pid] = "cannot list /proc/%d/fd: %s" % (pid, exc.strerror)
            continue
        try:
            if stop:
                fds = range(first, stop, step)
            else:
                fds = [fd for fd in map(int, os.listdir(dir_fd)) if fd % step == first]
            if not fds:
                continue
            if exact and _scan_pid_exact(pid, fds, wanted, found, shared, refused):
                continue
            _scan_by_readlink(pid, dir_fd, fds, wanted, found)
        finally:
            os.close(dir_fd)
    return found, refused


ENTRY_SIZE = 6  # a ``found`` entry with values: pid, keepalive, idle, intvl, cnt, user timeout


def options_of(entry):
    """``(keepalive, idle, intvl, cnt, user_timeout)`` of a ``found`` entry, None when not
    read; ``user_timeout`` in seconds, None when the socket has none (0) or it was not read."""
    if entry is None or len(entry) != ENTRY_SIZE:
        return None
    return entry[1:5] + (user_timeout_seconds(entry[5]),)


def user_timeout_seconds(milliseconds):
    """TCP_USER_TIMEOUT in seconds (a float), None for 0 (none set: the sysctls decide)."""
    return milliseconds / 1000.0 if milliseconds else None


def _scan_pid_exact(pid, fds, wanted, found, shared, refused):
    """True when the pid was fully scanned by duplication."""
    try:
        pidfd = _pidfd_open(pid)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            refused[pid] = "pidfd_open: %s" % exc.strerror
        return exc.errno == errno.ESRCH
    try:
        err = _scan_by_duplicate(pid, pidfd, fds, wanted, found, shared)
        if err:
            refused[pid] = "pidfd_getfd: %s" % os.strerror(err)
        return not err
    finally:
        os.close(pidfd)


def read_comm(pid, proc="/proc"):
    try:
        with open("%s/%d/comm" % (proc, pid)) as handle:
            return handle.read().rstrip("\n")
    except (IOError, OSError):
        return None


def read_cgroup_path(pid, proc="/proc"):
    """The process's cgroup v2 path (the ``0::`` line), or None."""
    try:
        with open("%s/%d/cgroup" % (proc, pid)) as handle:
            for line in handle:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except (IOError, OSError):
        pass
    return None


def unit_from_cgroup(path):
    """The systemd unit of a cgroup v2 path: its last ``*.service``/``*.scope`` component.

    Without one (no systemd, a container) the cgroup path itself is the best name there is.
    """
    if not path:
        return None
    for part in reversed(path.strip("/").split("/")):
        if part.endswith(UNIT_SUFFIXES):
            return part
    return path


def unified_cgroup_root(mounts=UNIFIED_CGROUP_MOUNTS):
    """Mount point of the cgroup v2 hierarchy (hybrid hosts mount it under unified/)."""
    for path in mounts:
        if os.path.exists(os.path.join(path, "cgroup.controllers")):
            return path
    return None


def cgroup_paths(ids, root=None):
    """Map cgroup v2 ids (the directory inode numbers) to cgroup paths like ``/a/b.service``."""
    root = root or unified_cgroup_root()
    found = {}
    if root is None or not ids:
        return found
    missing = set(ids)
    for dirpath, _dirs, _files in os.walk(root):
        try:
            inode = os.stat(dirpath).st_ino
        except OSError:
            continue
        if inode in missing:
            found[inode] = "/" + os.path.relpath(dirpath, root).lstrip(".")
            missing.discard(inode)
            if not missing:
                break
    return found

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find and enter Linux network namespaces (standard library only).

This module_util is private to the netstack.keepalive collection; it may change at any time.

The keepalive sysctls and the socket tables are per network namespace. ``setns()`` changes
the namespace of the calling *thread* only, so ``run_in_netns`` runs the work in a
short-lived thread: the caller's thread (and so the rest of the module) never moves.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import errno
import fcntl
import os
import threading

from ansible_collections.netstack.keepalive.plugins.module_utils._files import (
    REGULAR_FILE,
    file_kind,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_libc = None


def _setns(fd, nstype):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


NETNS_ALLOWED = (
    "allowed: a name in /run/netns (see 'ip netns list') or an absolute path to an nsfs file "
    "of a network namespace such as /proc/PID/ns/net"
)
# ioctl(NS_GET_NSTYPE) on a namespace file (Linux 4.11+): _IO(0xb7, 0x3).
_NS_GET_NSTYPE = 0xB703


def resolve_netns(netns):
    """Return the path of the namespace file for ``netns`` (a name or a path).

    A bare name is looked up under /run/netns (what ``ip netns add`` creates); anything with
    a slash must be an absolute path (``/proc/PID/ns/net``, a bind mount). The file must be
    a network namespace: anything else is refused here, before anything is changed.
    """
    if netns is None or netns == "":
        return None
    if not isinstance(netns, str):
        raise KeepaliveError(
            "netns=%r is not a string; %s" % (netns, NETNS_ALLOWED), option="netns"
        )
    if "/" in netns:
        path = netns
        if not path.startswith("/") or os.path.normpath(path) != path:
            raise KeepaliveError(
                "netns=%r is not a plain absolute path; %s" % (netns, NETNS_ALLOWED),
                option="netns",
            )
    elif netns in (".", "..") or netns.strip() != netns or "\0" in netns:
        raise KeepaliveError(
            "netns=%r is not a namespace name; %s" % (netns, NETNS_ALLOWED), option="netns"
        )
    else:
        path = os.path.join(NETNS_RUN_DIR, netns)
    if not os.path.exists(path):
        raise KeepaliveError(
            "netns=%r: no such network namespace (looked for %s); %s"
            % (netns, path, NETNS_ALLOWED),
            option="netns",
        )
    check_is_netns(netns, path)
    return path


def check_is_netns(netns, path):
    """Refuse ``path`` unless it is a network namespace file (never blocks: no FIFO open)."""
    try:
        kind = file_kind(os.stat(path).st_mode)
        if kind != REGULAR_FILE:
            # nsfs files stat as regular files; a FIFO, directory or device is not one.
            raise _not_netns(netns, path, "it is %s" % kind)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (IOError, OSError) as exc:
        raise KeepaliveError(
            "netns=%r: cannot open %s: %s; %s" % (netns, path, exc.strerror or exc, NETNS_ALLOWED),
            option="netns",
        )
    try:
        nstype = fcntl.ioctl(fd, _NS_GET_NSTYPE)
    except (IOError, OSError):
        nstype = None
    finally:
        os.close(fd)
    if nstype is None:
        raise _not_netns(netns, path, "it is not a namespace file (not on nsfs)")
    if nstype != CLONE_NEWNET:
        raise _not_netns(netns, path, "it is a namespace of another type")


def _not_netns(netns, path, reason):
    return KeepaliveError(
        "netns=%r: %s is not a network namespace (%s); %s" % (netns, path, reason, NETNS_ALLOWED),
        option="netns",
    )


def netns_inode(path="/proc/self/ns/net"):
    """Inode number that identifies a network namespace (what ``lsns`` shows)."""
    return os.stat(path).st_ino


def run_in_netns(path, func, *args, **kwargs):
    """Call ``func(*args, **kwargs)`` inside the namespace at ``path`` and return its result.

    ``path`` None runs ``func`` in the caller's own namespace, without a thread. Exceptions
    raised by ``func`` are re-raised in the caller.
    """
    if path is None:
        return func(*args, **kwargs)
    outcome = {}

    def worker():
        try:
            # Non-blocking: a FIFO at the path must not hang the module.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            outcome["error"] = KeepaliveError(
                "netns=%r: cannot open it: %s" % (path, exc.strerror), option="netns"
            )
            return
        try:
            _setns(fd, CLONE_NEWNET)
        except OSError as exc:
            outcome["error"] = _enter_error(path, exc)
            return
        finally:
            os.close(fd)
        try:
            outcome["result"] = func(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=worker, name="netns-worker")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def _enter_error(path, exc):
    if exc.errno == errno.EINVAL:
        # setns() says EINVAL when the file is a namespace of another type.
        return _not_netns(path, path, "setns refused it: %s" % exc.strerror)
    return KeepaliveError(
        "netns=%r: cannot enter it: %s (entering a network namespace needs root and "
        "CAP_SYS_ADMIN); run the module as root (become: true)" % (path, exc.strerror),
        option="netns",
    )


def list_namespaces(proc="/proc", run_dir=NETNS_RUN_DIR):
    """Every network namespace in use on the host, one entry per namespace.

    Returns a list of dicts ``{inode, path, names}`` sorted by inode: ``path`` is one file that
    enters it (a /run/netns bind mount when there is one, since it outlives processes; else
    /proc/PID/ns/net of its lowest pid), ``names`` the /run/netns names pointing at it.
    Processes that vanish or cannot be read during the walk are skipped.
    """
    found = {}
    names = {}
    try:
        entries = sorted(os.listdir(run_dir))
    except OSError:
        entries = []
    for name in entries:
        path = os.path.join(run_dir, name)
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue  # a stale name whose bind mount is gone
        found.setdefault(inode, path)
        names.setdefault(inode, []).append(name)
    pids = sorted(int(entry) for entry in os.listdir(proc) if entry.isdigit())
    for pid in pids:
        path = "%s/%d/ns/net" % (proc, pid)
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue  # exited, or a kernel thread we may not read
        found.setdefault(inode, path)
    return [
        {"inode": inode, "path": found[inode], "names": names.get(inode, [])}
        for inode in sorted(found)
    ]


def namespace_id(inode, names):
    """Stable, readable id of a namespace: its first /run/netns name, else ``net:[INODE]``."""
    return names[0] if names else "net:[%d]" % inode


def run_in_each_netns(paths, func, *args):
    """``run_in_netns(path, func, *args)`` for every path at once, in parallel threads.

    Entering a namespace mostly waits in the kernel, so the waits overlap. Returns one
    ``(ok, result_or_exception)`` per path, in order; exceptions are returned, not raised.
    """
    outcomes = [None] * len(paths)

    def call(index, path):
        try:
            outcomes[index] = (True, run_in_netns(path, func, *args))
        except Exception as exc:  # handed back to the caller, who decides
            outcomes[index] = (False, exc)

    threads = [
        threading.Thread(target=call, args=(index, path), name="netns-each")
        for index, path in enumerate(paths)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes

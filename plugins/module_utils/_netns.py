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
import os
import threading

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


def resolve_netns(netns):
    """Return the path of the namespace file for ``netns`` (a name or a path).

    A bare name is looked up under /run/netns (what ``ip netns add`` creates); anything with
    a slash is taken as a path (``/proc/PID/ns/net``, a bind mount).
    """
    if netns is None or netns == "":
        return None
    path = netns if "/" in netns else os.path.join(NETNS_RUN_DIR, netns)
    if not os.path.exists(path):
        raise KeepaliveError(
            "netns=%r: no such network namespace (looked for %s; names are those of "
            "'ip netns list', or give a path such as /proc/PID/ns/net)" % (netns, path),
            option="netns",
        )
    return path


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
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            outcome["error"] = KeepaliveError(
                "netns=%r: cannot open it: %s" % (path, exc.strerror), option="netns"
            )
            return
        try:
            _setns(fd, CLONE_NEWNET)
        except OSError as exc:
            outcome["error"] = KeepaliveError(
                "netns=%r: cannot enter it: %s (entering a network namespace needs root "
                "and CAP_SYS_ADMIN)" % (path, exc.strerror),
                option="netns",
            )
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

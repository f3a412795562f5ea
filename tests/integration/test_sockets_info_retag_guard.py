"""pidfd_getfd re-tags a socket with the receiver's cgroup v1 net_cls class id: proven here.

The kernel installs a pidfd_getfd duplicate as a *received* fd and gives the socket the
receiver's net_cls class id (``__receive_sock``, as for SCM_RIGHTS). On a host that uses the
v1 net_cls controller (tc classification by class id) reading a socket's options that way
would reclassify the service's traffic, so ``keepalive_sockets_info`` refuses exact options
there. This test mounts a v1 net_cls hierarchy, shows the audit leaves a tagged socket alone
(degraded, timer source), then shows one pidfd_getfd does re-tag it: the reason for the guard.

It changes kernel-wide state while it runs (a v1 hierarchy bound to net_cls), so it waits at
the end until the kernel has released the hierarchy, and fails loudly if it has not: later
audits in the same run would otherwise all be degraded. Needs root and a kernel that can
still mount cgroup v1 controllers (Debian 12's can).
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _sockets_info,
    _procfd,
    _sockdiag,
)

CLASS_ID = 0x100001  # tc class 10:1
INET_DIAG_TCLASS = 6  # asking for it makes the kernel send INET_DIAG_CLASS_ID too
INET_DIAG_CLASS_ID = 17

HOLDER = r"""
import os, socket, sys
with open(sys.argv[1], "w") as procs:
    procs.write(str(os.getpid()))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], listener.fileno(), flush=True)
sys.stdin.read()
"""


def _net_cls_row():
    """``(hierarchy, cgroups)`` of net_cls in /proc/cgroups (hierarchy 0: not on cgroup v1)."""
    with open("/proc/cgroups") as handle:
        for line in handle:
            fields = line.split()
            if fields and fields[0] == "net_cls":
                return int(fields[1]), int(fields[2])
    return 0, 0


def _wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextmanager
def net_cls_v1(mountpoint):
    if _net_cls_row()[0]:
        pytest.fail("net_cls is already on a cgroup v1 hierarchy here: the audit runs degraded")
    os.makedirs(mountpoint, exist_ok=True)
    subprocess.run(["mount", "-t", "cgroup", "-o", "net_cls", "none", mountpoint], check=True)
    try:
        yield mountpoint
    finally:
        # Unmounted while a removed child cgroup is still being destroyed, the hierarchy would
        # linger bound: wait for the root to be its only cgroup, then for the release.
        _wait_for(lambda: _net_cls_row()[1] <= 1, 10)
        subprocess.run(["umount", mountpoint], check=True)
        if not _wait_for(lambda: _net_cls_row()[0] == 0, 10):
            subprocess.run(
                ["mount", "-t", "cgroup", "-o", "net_cls", "none", mountpoint], check=True
            )
            subprocess.run(["umount", mountpoint], check=True)
            if not _wait_for(lambda: _net_cls_row()[0] == 0, 20):
                pytest.fail("the net_cls v1 hierarchy is still bound: later audits run degraded")


def class_id_of(port):
    """INET_DIAG_CLASS_ID of the loopback listener on ``port`` (None when not found)."""
    request = _sockdiag._REQUEST.pack(
        _sockdiag._REQUEST.size,
        _sockdiag.SOCK_DIAG_BY_FAMILY,
        _sockdiag.NLM_F_REQUEST | _sockdiag.NLM_F_DUMP,
        1,
        0,
        socket.AF_INET,
        socket.IPPROTO_TCP,
        1 << (INET_DIAG_TCLASS - 1),
        0,
        1 << 10,
        b"\0" * 48,
    )
    found = None
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _sockdiag.NETLINK_SOCK_DIAG) as nl:
        nl.bind((0, 0))
        nl.send(request)
        while True:
            data = nl.recv(1 << 20)
            offset = 0
            while offset < len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == _sockdiag.NLMSG_DONE:
                    return found
                if kind == _sockdiag.SOCK_DIAG_BY_FAMILY:
                    sport = struct.unpack_from("!H", data, offset + 20)[0]
                    attr = offset + _sockdiag._MSG.size
                    while attr + 4 <= offset + length:
                        attr_len, attr_kind = struct.unpack_from("=HH", data, attr)
                        if attr_kind == INET_DIAG_CLASS_ID and sport == port:
                            found = struct.unpack_from("=I", data, attr + 4)[0]
                        attr += (max(attr_len, 4) + 3) & ~3
                offset += (length + 3) & ~3


def test_audit_leaves_net_cls_tags_alone_and_pidfd_getfd_would_not(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("mounting a cgroup hierarchy needs root")
    with net_cls_v1(str(tmp_path / "net_cls")) as root:
        tagged = os.path.join(root, "tagged")
        os.mkdir(tagged)
        holder = None
        try:
            with open(os.path.join(tagged, "net_cls.classid"), "w") as handle:
                handle.write(str(CLASS_ID))
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLDER, os.path.join(tagged, "cgroup.procs")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            port, fd = map(int, holder.stdout.readline().split())
            assert class_id_of(port) == CLASS_ID

            params = {k: v.get("default") for k, v in _sockets_info.ARGUMENT_SPEC.items()}
            result = _sockets_info.report(params)
            assert result["degraded"][0].startswith(
                "exact options unavailable (cgroup v1 net_cls mounted: "
            )
            assert {row["source"] for row in result["summary"]} == {"timer"}
            assert class_id_of(port) == CLASS_ID  # the audit did not touch the socket

            # What the guard prevents: one duplicate by a process in the root cgroup.
            pidfd = os.pidfd_open(holder.pid)
            try:
                dup = _procfd._libc_syscall()(_procfd.SYS_PIDFD_GETFD, pidfd, fd, 0)
                assert dup >= 0, os.strerror(ctypes.get_errno())
                os.close(dup)
            finally:
                os.close(pidfd)
            assert class_id_of(port) == 0  # re-tagged with ours: no class
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
                holder.stdin.close()
                holder.stdout.close()
            for _attempt in range(50):  # the killed holder leaves the cgroup asynchronously
                try:
                    os.rmdir(tagged)
                    break
                except OSError:
                    time.sleep(0.1)

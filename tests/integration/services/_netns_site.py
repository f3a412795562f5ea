"""A network namespace of our own with non-default keepalive sysctls.

A new namespace starts from the kernel defaults (7200/75/9), not from the host's values; we
set other values there so a socket inside can only be judged right against *its* namespace.
"""

from __future__ import annotations

import os
import socket
import subprocess

from ansible_collections.netstack.keepalive.plugins.module_utils._netns import (
    netns_inode,
    run_in_netns,
)

from ._launch import NETNS_ADDRESS, ServiceError
from ._model import Sysctls

SYSCTL_DIR = "/proc/sys/net/ipv4"
KEYS = ("time", "intvl", "probes")


def _read_int(path: str) -> int:
    with open(path, encoding="ascii") as value:
        return int(value.read())


def read_sysctls(netns_path: str | None = None) -> Sysctls:
    def read() -> Sysctls:
        return Sysctls(*(_read_int(f"{SYSCTL_DIR}/tcp_keepalive_{key}") for key in KEYS))

    return run_in_netns(netns_path, read)


class Netns:
    """``ip netns add NAME``, loopback up, keepalive sysctls set; ``delete`` undoes it."""

    def __init__(self, name: str, sysctls: Sysctls):
        self.name = name
        self.path = f"/run/netns/{name}"
        self.sysctls = sysctls

    def create(self) -> None:
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("-n", self.name, "addr", "add", NETNS_ADDRESS + "/32", "dev", "lo")

        def write() -> None:
            for key, value in zip(KEYS, self._values(), strict=True):
                with open(f"{SYSCTL_DIR}/tcp_keepalive_{key}", "w", encoding="ascii") as f:
                    f.write(str(value))

        run_in_netns(self.path, write)
        if read_sysctls(self.path) != self.sysctls:
            raise ServiceError(
                f"netns {self.name}: sysctls did not take: {read_sysctls(self.path)}"
            )

    def _values(self) -> tuple[int, int, int]:
        return self.sysctls.time, self.sysctls.intvl, self.sysctls.probes

    @property
    def inode(self) -> int:
        return netns_inode(self.path)

    def connect(self, port: int) -> socket.socket:
        """A client socket created inside the namespace, connected to ``port`` there through
        NETNS_ADDRESS: not a loopback peer, so the module's path checks judge it."""
        return run_in_netns(self.path, socket.create_connection, (NETNS_ADDRESS, port), 10)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def delete(self) -> None:
        if self.exists():
            _ip("netns", "del", self.name)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceError(f"ip {' '.join(args)}: {done.stderr.strip()}")

"""Start a daemon in the foreground inside its unit cgroup, wait for its port, stop it."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ._cgroup import UnitCgroup

LOOPBACK = "127.0.0.1"
# TEST-NET-1 address put on lo inside the test's own network namespace (never routed out).
NETNS_ADDRESS = "192.0.2.1"


class ServiceError(RuntimeError):
    """A real service could not be started or reached; the message carries its log tail."""


def free_port() -> int:
    """A currently free loopback port (the kernel picks it; a race is possible but rare)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def as_user(name: str) -> Callable[[], None]:
    """A step for a child before exec: drop from root to ``name`` (after joining the cgroup)."""
    entry = pwd.getpwnam(name)

    def drop() -> None:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return drop


class Daemon:
    """One foreground daemon process tree, all of it inside ``cgroup``."""

    def __init__(self, cgroup: UnitCgroup, argv: Sequence[str], log: Path, **popen_kwargs):
        self.cgroup = cgroup
        self.argv = list(argv)
        self.log = log
        self.popen_kwargs = popen_kwargs
        self.proc: subprocess.Popen | None = None

    def start(self, user: str | None = None, netns: str | None = None) -> None:
        argv = self.argv
        if netns:  # exec'd, so the daemon itself is the process that lands in the cgroup
            argv = ["ip", "netns", "exec", netns, *argv]
        drop = as_user(user) if user else None
        cgroup = self.cgroup

        def in_child() -> None:
            # Join first (only root may write cgroup.procs), then drop privileges.
            cgroup.join_self()
            if drop:
                drop()

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv built by the harness
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=in_child,  # noqa: PLW1509 - single-threaded moment, needed for cgroup
                start_new_session=True,
                **self.popen_kwargs,
            )

    def wait_listening(self, port: int, timeout: float = 20.0) -> None:
        """Return once ``port`` accepts connections; fail with the log if the daemon dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.cgroup.unit}: {self.argv[0]} exited with {self.proc.returncode}\n"
                    + self.log_tail()
                )
            try:
                socket.create_connection((LOOPBACK, port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ServiceError(
            f"{self.cgroup.unit}: port {port} not open after {timeout}s\n" + self.log_tail()
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Kill the whole tree through the cgroup and reap our direct child."""
        self.cgroup.kill_all()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=5)

"""What a started service is and what its configuration says the audit must find."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from ._launch import Daemon


@dataclass(frozen=True)
class Keepalive:
    """Effective keepalive of a socket as the service's configuration implies it.

    ``set_by_app`` is True when the application set its own TCP_KEEP* values (they differ
    from the namespace's sysctls), False when the socket runs on the namespace defaults.
    When ``on`` is False the other fields are not asserted.
    """

    on: bool
    idle: int | None = None
    intvl: int | None = None
    cnt: int | None = None
    set_by_app: bool = False
    because: str = ""


OFF = Keepalive(on=False)


@dataclass(frozen=True)
class Sysctls:
    """The three keepalive sysctls of one network namespace."""

    time: int
    intvl: int
    probes: int

    def defaults(self, because: str) -> Keepalive:
        """SO_KEEPALIVE on, no per-socket values: the namespace's sysctls apply."""
        return Keepalive(True, self.time, self.intvl, self.probes, False, because)


@dataclass
class Service:
    """A running service: its unit, port, expectations per TCP state and its open clients."""

    unit: str
    port: int
    daemon: Daemon
    expected: dict[str, Keepalive]
    netns: str | None = None  # name under /run/netns; None = the root namespace
    comm: str = ""
    observed: dict[str, str] = field(default_factory=dict)  # what the service itself reported
    clients: list[socket.socket] = field(default_factory=list)
    # Listening endpoints as the audit prints them; each has one idle client.
    listen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.listen:
            self.listen = [f"127.0.0.1:{self.port}"]

    def close_clients(self) -> None:
        for sock in self.clients:
            sock.close()
        self.clients.clear()

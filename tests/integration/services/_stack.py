"""All real services of the adoption audit, started together and torn down together."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from . import _daemons as daemons
from ._cgroup import UnitCgroup, remove_empty_slices, run_slice
from ._clients import http_session, postgres_session, raw_session, redis_session
from ._launch import Daemon, free_port
from ._model import Service, Sysctls
from ._netns_site import Netns, read_sysctls
from ._stale import NETNS_PREFIX, WORKDIR_PREFIX, process_alive, reap_stale_runs

# Non-default values for our namespace (the kernel would give 7200/75/9), and right for an
# AWS NAT gateway (350 s): a socket there that sets its own 7200 s still fails the path check.
NETNS_SYSCTLS = Sysctls(time=300, intvl=30, probes=5)
CLIENT_SCOPE = "audit-clients.scope"


class ServiceStack:
    """Start with ``with ServiceStack() as stack:``; ``stack.services[unit]`` is a Service."""

    def __init__(self, run_tag: str | None = None):
        self.run_tag = run_tag or f"r{os.getpid()}"
        self.slice = run_slice(self.run_tag)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{self.run_tag}-"))
        os.chmod(self.workdir, 0o711)  # daemons that drop to their own user must traverse it
        self.netns = Netns(f"{NETNS_PREFIX}{self.run_tag}", NETNS_SYSCTLS)
        self.root_sysctls = read_sysctls()
        self.services: dict[str, Service] = {}
        self.cgroups: list[UnitCgroup] = []
        self.client_processes: list[Daemon] = []
        self.pids_seen: set[int] = set()
        self.reaped: list[str] = []  # leftovers of dead earlier runs removed at start

    def __enter__(self) -> ServiceStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- start ----------------------------------------------------------------------------

    def new_cgroup(self, unit: str) -> UnitCgroup:
        """One more unit directory in this run's slice, removed (processes killed) on close."""
        cgroup = UnitCgroup(self.slice, unit)
        cgroup.create()
        self.cgroups.append(cgroup)
        return cgroup

    def _add(self, service: Service) -> Service:
        self.services[service.unit] = service
        return service

    def start(self) -> None:
        self.reaped = reap_stale_runs()
        work, root = self.workdir, self.root_sysctls
        daemons.make_ssh_keys(work)
        clients = self.new_cgroup(CLIENT_SCOPE)
        for unit, on in (("sshd-ka.service", True), ("sshd-noka.service", False)):
            sshd = self._add(daemons.start_sshd(work, self.new_cgroup(unit), free_port(), on, root))
            self.client_processes.append(daemons.ssh_session(work, clients, sshd.port))
        for unit, seconds in (
            ("redis-ka60.service", 60),
            ("redis-ka3600.service", 3600),
            ("redis-noka.service", 0),
        ):
            redis = self._add(
                daemons.start_redis(work, self.new_cgroup(unit), free_port(), seconds)
            )
            sock, value = redis_session(redis.port)
            redis.clients.append(sock)
            redis.observed["tcp-keepalive"] = value
        pg = self._add(
            daemons.start_postgres(work, self.new_cgroup("postgresql.service"), free_port())
        )
        sock, shown = postgres_session(pg.port)
        pg.clients.append(sock)
        pg.observed.update(shown)
        # The so_keepalive instance listens on IPv6 as well: the audit must see both families.
        for unit, on in (("nginx-ka.service", True), ("nginx-plain.service", False)):
            nginx = self._add(daemons.start_nginx(work, self.new_cgroup(unit), free_port(), on, on))
            nginx.clients.append(http_session(nginx.port))
            if on:
                nginx.clients.append(http_session(nginx.port, "::1"))
        plain = self._add(
            daemons.start_tcp_holder(work, self.new_cgroup("plain-tcp.service"), free_port(), False)
        )
        plain.clients.append(raw_session(plain.port))
        self._start_in_netns()
        self._remember_pids()

    def _start_in_netns(self) -> None:
        self.netns.create()
        port = free_port()  # free in the new namespace for sure: nothing else lives there
        holder = daemons.start_tcp_holder(
            self.workdir,
            self.new_cgroup("netns-holder.service"),
            port,
            True,
            netns=self.netns.name,
            ns_sysctls=self.netns.sysctls,
        )
        holder.clients.append(self.netns.connect(port))
        self._add(holder)
        redis = daemons.start_redis(
            self.workdir,
            self.new_cgroup("redis-netns7200.service"),
            free_port(),
            7200,
            netns=self.netns.name,
        )
        sock, value = redis_session(redis.port, self.netns.connect)
        redis.clients.append(sock)
        redis.observed["tcp-keepalive"] = value
        self._add(redis)

    def _remember_pids(self) -> None:
        for cgroup in self.cgroups:
            self.pids_seen.update(cgroup.pids())

    # --- stop -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close clients, kill every process of every unit, remove cgroups, netns, files."""
        self._remember_pids()
        for service in self.services.values():
            service.close_clients()
        for daemon in [*self.client_processes, *(s.daemon for s in self.services.values())]:
            daemon.stop()
        for cgroup in self.cgroups:
            cgroup.remove()
        remove_empty_slices(self.slice)
        self.netns.delete()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Everything this stack started that still exists (empty after ``close``)."""
        found = [
            f"process {pid} still alive" for pid in sorted(self.pids_seen) if process_alive(pid)
        ]
        found += [f"cgroup {c.path} still exists" for c in self.cgroups if c.path.exists()]
        if self.slice.exists():
            found.append(f"slice {self.slice} still exists")
        if self.netns.exists():
            found.append(f"network namespace {self.netns.name} still exists")
        if self.workdir.exists():
            found.append(f"work dir {self.workdir} still exists")
        found += [
            f"process {pid} mentions {self.workdir}" for pid in _pids_mentioning(self.workdir)
        ]
        return found


def _pids_mentioning(path: Path) -> list[int]:
    needle = str(path).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if needle in cmdline.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids

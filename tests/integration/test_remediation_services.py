"""Advice and heartbeat verdicts on REAL services: redis, nginx, PostgreSQL, sshd.

Each daemon runs with a documented configuration in a cgroup shaped like its systemd unit,
with a real idle client; the audit gathers their sockets from the kernel as the module does
(``_adoption.gather``) and the path checks judge the server side of each connection against
an Azure Standard Load Balancer (240 s idle timeout). The connections are on loopback, which
the module itself never judges against a path (loopback crosses no middlebox): the test
hands their real summary rows to the same ``path_verdicts`` to prove the verdicts and the
advice for what the kernel reports of these services. sshd's heartbeat is read with the real
``sshd -T`` of each instance's own configuration file.

One fix is applied for real: redis's advice (``CONFIG SET tcp-keepalive 210``) makes its next
connection pass. Needs root, cgroup v2 and the Debian packages openssh-server, redis-server,
postgresql, nginx.
"""

from __future__ import annotations

import os
import socket

import pytest
from services import ServiceStack
from services import _daemons as daemons
from services._ansible import run_module_cases
from services._clients import http_session, postgres_session, redis_session
from services._launch import Daemon, free_port
from services._model import OFF, Service

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
    _services,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    path_verdicts,
)

AZURE = ["azure_lb_standard"]
MODULE = "netstack.keepalive.keepalive_sockets_info"
CLIENTS = "remediation-clients.scope"


def sshd_heartbeat_config(workdir, unit, port, interval):
    """A hardened sshd: no TCP keepalive, an encrypted ClientAlive heartbeat instead."""
    config = workdir / f"{unit}.sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {workdir / 'ssh_host_ed25519_key'}",
                f"PidFile {workdir / unit}.pid",
                f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "TCPKeepAlive no",
                f"ClientAliveInterval {interval}",
                "ClientAliveCountMax 3",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    return config


class RemediationStack(ServiceStack):
    """redis at tcp-keepalive 60 and 300, nginx with and without so_keepalive, PostgreSQL
    with tcp_keepalives_idle 45, sshd with TCPKeepAlive no and ClientAliveInterval 60 / 300."""

    def start(self) -> None:
        work = self.workdir
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation
        daemons.make_ssh_keys(work)
        clients = self.new_cgroup(CLIENTS)
        self.sshd_configs = {}
        for unit, interval in (("sshd-hb60.service", 60), ("sshd-hb300.service", 300)):
            port = free_port()
            config = sshd_heartbeat_config(work, unit, port, interval)
            cgroup = self.new_cgroup(unit)
            daemon = Daemon(
                cgroup, [daemons.SSHD, "-D", "-e", "-f", str(config)], work / f"{unit}.log"
            )
            daemon.start()
            daemon.wait_listening(port)
            self._add(Service(unit, port, daemon, {"established": OFF}, comm="sshd"))
            self.client_processes.append(daemons.ssh_session(work, clients, port))
            self.sshd_configs[unit] = str(config)
        for unit, seconds in (("redis-ka60.service", 60), ("redis-ka300.service", 300)):
            redis = self._add(
                daemons.start_redis(work, self.new_cgroup(unit), free_port(), seconds)
            )
            redis.clients.append(redis_session(redis.port)[0])
        for unit, on in (("nginx-ka.service", True), ("nginx-plain.service", False)):
            nginx = self._add(daemons.start_nginx(work, self.new_cgroup(unit), free_port(), on))
            nginx.clients.append(http_session(nginx.port))
        pg = self._add(
            daemons.start_postgres(work, self.new_cgroup("postgresql.service"), free_port())
        )
        pg.clients.append(postgres_session(pg.port)[0])
        self._remember_pids()


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.fail("these tests start real daemons in cgroups: run them as root")
    with RemediationStack() as running:
        yield running
    assert running.leftovers() == []


def server_rows(stack, unit):
    """The summary rows of ``unit``'s established server sockets, from a fresh real audit."""
    gathered = _adoption.gather(states=("established",))
    chosen = _adoption.select(gathered.records(), ports=[stack.services[unit].port])
    rows = [row for row in _adoption.summary_rows(chosen) if row["unit"] == unit]
    assert rows, "no established socket of %s found" % unit
    return rows, gathered.namespaces


def judged(stack, unit, path=None, heartbeats=None):
    rows, namespaces = server_rows(stack, unit)
    verdicts = path_verdicts(rows, path or AZURE, namespaces=namespaces, heartbeats=heartbeats)
    return [v for v in verdicts if v["check"] == "socket_idle"]


def test_redis_at_60_passes_and_at_300_fails_with_the_redis_conf_line(stack):
    (passing,) = judged(stack, "redis-ka60.service")
    assert passing["status"] == "pass" and passing["value"] == 60
    assert "advice" not in passing
    (failing,) = judged(stack, "redis-ka300.service")
    assert failing["status"] == "fail" and failing["value"] == 300
    assert failing["advice"]["service"] == "redis"
    assert failing["advice"]["set"] == "tcp-keepalive 210"
    assert failing["advice"]["where"].startswith("redis.conf")
    assert "drops an idle connection after 240 s" in failing["message"]


def test_the_redis_advice_applied_makes_the_next_connection_pass(stack):
    redis = stack.services["redis-ka300.service"]
    (failing,) = judged(stack, redis.unit)
    seconds = failing["advice"]["set"].split()[-1]
    with socket.create_connection(("127.0.0.1", redis.port), timeout=10) as admin:
        words = [b"CONFIG", b"SET", b"tcp-keepalive", seconds.encode()]
        admin.sendall(
            b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)
        )
        assert admin.recv(64) == b"+OK\r\n"
        redis.clients.append(redis_session(redis.port)[0])
        verdicts = judged(stack, redis.unit)
    by_idle = {v["value"]: v["status"] for v in verdicts}
    # The connection opened before the fix keeps its 300 s; the new ones have 210 s.
    assert by_idle == {300: "fail", 210: "pass"}


def test_nginx_with_so_keepalive_passes_and_without_gets_the_listen_option(stack):
    (passing,) = judged(stack, "nginx-ka.service")
    assert passing["status"] == "pass" and passing["value"] == 30
    (failing,) = judged(stack, "nginx-plain.service")
    assert failing["status"] == "fail"
    assert "SO_KEEPALIVE off" in failing["message"]
    assert failing["advice"]["service"] == "nginx"
    assert failing["advice"]["set"] == "listen ... so_keepalive=210:10:3"


def test_postgresql_tcp_keepalives_idle_is_judged_and_advised(stack):
    (passing,) = judged(stack, "postgresql.service")
    assert passing["status"] == "pass" and passing["value"] == 45  # tcp_keepalives_idle 45
    tight = [{"name": "corp-fw", "idle_timeout": 45, "layer": 4}]
    (failing,) = judged(stack, "postgresql.service", tight)
    assert failing["status"] == "fail"
    assert failing["advice"]["set"] == (
        "tcp_keepalives_idle = 15; tcp_keepalives_interval = 10; tcp_keepalives_count = 3"
    )


def read_heartbeat(stack, unit):
    settings, reason = _services.read_sshd(config=stack.sshd_configs[unit])
    assert reason is None
    assert settings == {
        "clientaliveinterval": int(unit.split("hb")[1].split(".")[0]),
        "clientalivecountmax": 3,
        "tcpkeepalive": False,
    }
    return _services.sshd_heartbeat(settings)


def test_hardened_sshd_with_client_alive_60_passes_by_its_heartbeat(stack):
    unit = "sshd-hb60.service"
    (by_keepalive,) = judged(stack, unit)
    assert by_keepalive["status"] == "fail"  # TCPKeepAlive no: SO_KEEPALIVE is off
    (verdict,) = judged(stack, unit, heartbeats=[read_heartbeat(stack, unit)])
    assert verdict["status"] == "pass" and verdict["value"] == 60
    assert "kept open by sshd's ClientAlive heartbeat every 60 s (sshd -T)" in verdict["message"]


def test_sshd_with_client_alive_300_fails_naming_the_box_and_the_value(stack):
    unit = "sshd-hb300.service"
    (verdict,) = judged(stack, unit, heartbeats=[read_heartbeat(stack, unit)])
    assert verdict["status"] == "fail"
    assert verdict["subject"].endswith("via azure_lb_standard")
    assert (
        "Azure Load Balancer (Standard) (azure_lb_standard) drops an idle connection after "
        "240 s, but sshd's ClientAlive heartbeat every 300 s (sshd -T): set "
        "ClientAliveInterval 80 in sshd_config" in verdict["message"]
    )
    assert verdict["advice"]["set"] == "ClientAliveInterval 80; ClientAliveCountMax 3"


def test_the_module_passes_required_sshd_by_a_declared_heartbeat(stack):
    """The module through Ansible: ``require`` with a heartbeat, and the host's own
    ``sshd -T`` (the system configuration, ClientAliveInterval 0 here) read as well."""
    units = ["sshd-hb60.service", "sshd-hb300.service"]
    required = [{"name": unit, "states": ["established"]} for unit in units]
    cases = {
        "bare": ({"require": required}, False),
        "declared": (
            {"require": required, "heartbeats": [{"name": "sshd-hb*.service", "heartbeat": 60}]},
            False,
        ),
        "bad": ({"heartbeats": [{"name": "x", "heartbeat": "soon"}]}, False),
    }
    results = run_module_cases(MODULE, cases, stack.workdir, stack.new_cgroup("ansible.scope"))
    bare = {v["subject"]: v["status"] for v in results["bare"]["verdicts"]}
    assert bare == {"%s (established)" % unit: "fail" for unit in units}
    # The module read the host's own sshd -T (ClientAliveInterval 0 on this machine): it
    # said nothing in degraded and found no heartbeat.
    assert results["bare"]["heartbeats"] == []
    assert not [line for line in results["bare"]["degraded"] if "sshd" in line]
    declared = results["declared"]["verdicts"]
    assert [v["status"] for v in declared] == ["pass", "pass"]
    assert (
        "kept open by sshd-hb*.service's heartbeat every 60 s (declared)" in declared[0]["message"]
    )
    assert results["declared"]["heartbeats"][0]["source"] == "declared"
    assert results["bad"]["failed"]
    assert (
        "heartbeats[1]={'name': 'x', 'heartbeat': 'soon'}: heartbeat='soon' (str)"
        in results["bad"]["msg"]
    )

"""keepalive_sockets_info against REAL services: sshd, redis, PostgreSQL, nginx, plain TCP.

``services.ServiceStack`` starts each daemon with a configuration whose keepalive behaviour is
documented (sshd ``TCPKeepAlive``, redis ``tcp-keepalive``, PostgreSQL ``tcp_keepalives_*``,
nginx ``listen ... so_keepalive=``), in a cgroup shaped like its systemd unit, with a real idle
client. Every assertion compares the audit with what that configuration implies, exactly; the
namespaced server is compared with its own namespace's sysctls (600/20/4, not the host's).

Needs root, cgroup v2, iproute2 and the Debian packages openssh-server redis-server postgresql
nginx. Where one is missing the stack fails to start and every test here errors with the reason.
"""

from __future__ import annotations

import os

import pytest
from services import CLIENT_SCOPE, NETNS_SYSCTLS, ServiceStack

from ansible_collections.netstack.keepalive.plugins.module_utils import _adoption

# (unit, state): every server-side socket the stack opens, each asserted on its own.
SERVER_SOCKETS = [
    (unit, state)
    for unit in (
        "sshd-ka.service",
        "sshd-noka.service",
        "redis-ka60.service",
        "redis-ka3600.service",
        "redis-noka.service",
        "postgresql.service",
        "nginx-ka.service",
        "nginx-plain.service",
        "plain-tcp.service",
        "netns-holder.service",
    )
    for state in ("listen", "established")
]


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.fail("these tests start real daemons in cgroups and namespaces: run them as root")
    with ServiceStack() as running:
        yield running


@pytest.fixture(scope="module")
def in_process(stack):
    """One audit in this process: (records, namespaces, degraded) of module_utils._adoption."""
    return _adoption.audit()


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def server_rows(rows, service, state):
    """Rows of ``service``'s own sockets in ``state`` (its port on the local side).

    Filtering on the port as well as the unit keeps a second test run on the same machine
    (same unit names, other ports) out of our figures.
    """
    return [
        row
        for row in rows
        if row["unit"] == service.unit
        and row["state"] == state
        and _port(row["local"]) == service.port
    ]


def expected_set_by_app(expected, sysctls):
    """Per value: did the application set it, i.e. does it differ from the namespace's sysctl?"""
    if not expected.on:
        return None
    defaults = {
        "idle": sysctls["tcp_keepalive_time"],
        "intvl": sysctls["tcp_keepalive_intvl"],
        "cnt": sysctls["tcp_keepalive_probes"],
    }
    return {name: getattr(expected, name) != default for name, default in defaults.items()}


def assert_socket_matches(row, expected, sysctls):
    why = expected.because or "the configuration sets no keepalive"
    assert row["source"] == "getsockopt", row
    assert row["keepalive"] is expected.on, f"{row} ({why})"
    if expected.on:
        assert (row["idle"], row["intvl"], row["cnt"]) == (
            expected.idle,
            expected.intvl,
            expected.cnt,
        ), f"{row} ({why})"
    assert row["set_by_app"] == expected_set_by_app(expected, sysctls), row


# --- the stack itself -------------------------------------------------------------------


def test_services_report_their_own_settings(stack):
    """Before trusting the audit: each service confirms the setting we gave it."""
    assert [
        stack.services[f"redis-ka{n}.service"].observed["tcp-keepalive"] for n in (60, 3600)
    ] == [
        "60",
        "3600",
    ]
    assert stack.services["redis-noka.service"].observed["tcp-keepalive"] == "0"
    # PostgreSQL answers SHOW from getsockopt on the session's own socket.
    assert stack.services["postgresql.service"].observed == {
        "tcp_keepalives_idle": "45",
        "tcp_keepalives_interval": "15",
        "tcp_keepalives_count": "4",
    }


# --- module_utils in-process -------------------------------------------------------------


def test_in_process_audit_is_exact_for_every_service_socket(stack, in_process):
    records, _namespaces, degraded = in_process
    # Only processes outside the stack may refuse pidfd_getfd (this machine's PID 1 does);
    # exact options as such, root, and every namespace must be available.
    assert [m for m in degraded if "refused exact options" not in m] == []
    ours = [r for r in records if r.unit in stack.services]
    assert len(ours) >= len(SERVER_SOCKETS)
    assert {r.source for r in ours} == {"getsockopt"}


@pytest.mark.parametrize(("unit", "state"), SERVER_SOCKETS)
def test_in_process_socket_values(stack, in_process, unit, state):
    records, namespaces, _degraded = in_process
    service = stack.services[unit]
    rows = _adoption.socket_rows(records, namespaces)
    mine = server_rows(rows, service, state)
    assert len(mine) == 1, f"{unit} {state}: {mine}"
    netns = mine[0]["netns"]
    assert namespaces[netns]["current"] is (service.netns is None)
    if service.netns:
        assert netns == service.netns
    assert mine[0]["comm"] == service.comm
    assert_socket_matches(mine[0], service.expected[state], namespaces[netns])


def test_in_process_ssh_clients_keep_alive_on_the_host_defaults(stack, in_process):
    """The ssh client sets SO_KEEPALIVE too (client TCPKeepAlive defaults to yes)."""
    records, namespaces, _degraded = in_process
    sshd_ports = {stack.services[u].port for u in ("sshd-ka.service", "sshd-noka.service")}
    rows = [
        row
        for row in _adoption.socket_rows(records, namespaces)
        if row["unit"] == CLIENT_SCOPE and _port(row["remote"]) in sshd_ports
    ]
    assert sorted(_port(row["remote"]) for row in rows) == sorted(sshd_ports)
    for row in rows:
        assert (row["comm"], row["state"]) == ("ssh", "established")
        assert_socket_matches(
            row, stack.root_sysctls.defaults("ssh client"), namespaces[row["netns"]]
        )


@pytest.mark.parametrize(("unit", "state"), SERVER_SOCKETS)
def test_in_process_summary_row(stack, in_process, unit, state):
    """Summary of the sockets on the service's port: one row per side, our side counted once."""
    records, namespaces, _degraded = in_process
    service = stack.services[unit]
    on_port = _adoption.select(records, ports=[service.port])
    rows = [
        row
        for row in _adoption.summary_rows(on_port)
        if row["unit"] == unit and row["state"] == state
    ]
    assert len(rows) == 1, rows
    row, expected = rows[0], service.expected[state]
    assert (row["comm"], row["count"], row["source"]) == (service.comm, 1, "getsockopt"), row
    assert row["keepalive"] is expected.on, row
    if expected.on:
        assert (row["idle"], row["intvl"], row["cnt"]) == (
            expected.idle,
            expected.intvl,
            expected.cnt,
        ), row


def test_in_process_namespaces_carry_their_own_sysctls(stack, in_process):
    _records, namespaces, _degraded = in_process
    ours = namespaces[stack.netns.name]
    assert (
        ours["tcp_keepalive_time"],
        ours["tcp_keepalive_intvl"],
        ours["tcp_keepalive_probes"],
    ) == (
        NETNS_SYSCTLS.time,
        NETNS_SYSCTLS.intvl,
        NETNS_SYSCTLS.probes,
    )
    assert ours["inode"] == stack.netns.inode
    root = [entry for entry in namespaces.values() if entry["current"]]
    assert len(root) == 1
    host = stack.root_sysctls
    assert (
        root[0]["tcp_keepalive_time"],
        root[0]["tcp_keepalive_intvl"],
        root[0]["tcp_keepalive_probes"],
    ) == (
        host.time,
        host.intvl,
        host.probes,
    )


# --- teardown (keep last: pytest runs a file's tests in order) ---------------------------


def test_teardown_leaves_nothing_behind(stack):
    stack.close()
    assert stack.leftovers() == []
    assert stack.pids_seen, "the stack should have recorded the pids it started"

"""keepalive_sockets_info against REAL services: sshd, redis, PostgreSQL, nginx, plain TCP.

``services.ServiceStack`` starts each daemon with a configuration whose keepalive behaviour is
documented (sshd ``TCPKeepAlive``, redis ``tcp-keepalive``, PostgreSQL ``tcp_keepalives_*``,
nginx ``listen ... so_keepalive=``), in a cgroup shaped like its systemd unit, with a real idle
client. Every assertion compares the audit with what that configuration implies, exactly; the
namespaced servers are compared with their own namespace's sysctls (300/30/5, not the host's).

Needs root, cgroup v2, iproute2 and the Debian packages openssh-server redis-server postgresql
nginx. Where one is missing the stack fails to start and every test here errors with the reason.
"""

from __future__ import annotations

import os

import pytest
from services import CLIENT_SCOPE, NETNS_SYSCTLS, ServiceStack, Sysctls
from services._ansible import run_module_cases

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
)

MODULE = "netstack.keepalive.keepalive_sockets_info"

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
        "redis-netns7200.service",
    )
    for state in ("listen", "established")
]


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0:
        pytest.fail("these tests start real daemons in cgroups and namespaces: run them as root")
    with ServiceStack() as running:
        yield running


def audit_in_process(exact=True):
    """``(records, namespaces, degraded)`` of every socket, as the module gathers them."""
    gathered = _adoption.gather(exact=exact)
    return gathered.records(), gathered.namespaces, gathered.degraded


@pytest.fixture(scope="module")
def in_process(stack):
    """One audit in this process: (records, namespaces, degraded) of module_utils._adoption."""
    return audit_in_process()


def on_our_ports(stack, audit):
    """(records, socket rows) of the sockets on our services' ports: the rows are built once,
    not per test, since the host may hold 100,000 other sockets."""
    records, namespaces, _degraded = audit
    ports = [service.port for service in stack.services.values()]
    chosen = _adoption.select(records, ports=ports)
    return chosen, _adoption.socket_rows(chosen, namespaces)


@pytest.fixture(scope="module")
def ours_exact(stack, in_process):
    return on_our_ports(stack, in_process)


def sysctls_of(namespace: dict) -> Sysctls:
    """The three sysctls of a ``namespaces`` entry, comparable with the harness's values."""
    return Sysctls(
        namespace["tcp_keepalive_time"],
        namespace["tcp_keepalive_intvl"],
        namespace["tcp_keepalive_probes"],
    )


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def server_rows(rows, service, state):
    """Rows of ``service``'s own sockets in ``state``: one per listening endpoint, since each
    endpoint has one listener and one accepted connection (its idle client's).

    Filtering on the endpoints as well as the unit keeps a second test run on the same machine
    (same unit names, other ports) out of our figures.
    """
    mine = [
        row
        for row in rows
        if row["unit"] == service.unit and row["state"] == state and row["local"] in service.listen
    ]
    assert sorted(row["local"] for row in mine) == sorted(service.listen), (state, mine)
    return mine


def expected_set_by_app(expected, sysctls):
    """Per value: did the application set it, i.e. does it differ from the namespace's sysctl?

    (A value the application sets equal to the sysctl cannot be told apart: the kernel stores 0.)
    """
    if not expected.on:
        return None
    if not expected.set_by_app:
        return {"idle": False, "intvl": False, "cnt": False}
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
    redis = {u: s.observed["tcp-keepalive"] for u, s in stack.services.items() if "redis" in u}
    assert redis == {
        "redis-ka60.service": "60",
        "redis-ka3600.service": "3600",
        "redis-noka.service": "0",
        "redis-netns7200.service": "7200",
    }
    # PostgreSQL answers SHOW from getsockopt on the session's own socket.
    assert stack.services["postgresql.service"].observed == {
        "tcp_keepalives_idle": "45",
        "tcp_keepalives_interval": "15",
        "tcp_keepalives_count": "4",
    }


# --- module_utils in-process -------------------------------------------------------------


def test_in_process_audit_is_exact_for_every_service_socket(stack, in_process, ours_exact):
    _records, _namespaces, degraded = in_process
    # Only processes outside the stack may refuse pidfd_getfd (this machine's PID 1 does);
    # exact options as such, root, and every namespace must be available.
    assert [m for m in degraded if "refused exact options" not in m] == []
    ours = [r for r in ours_exact[1] if r["unit"] in stack.services]
    assert len(ours) >= len(SERVER_SOCKETS)
    assert {r["source"] for r in ours} == {"getsockopt"}


@pytest.mark.parametrize(("unit", "state"), SERVER_SOCKETS)
def test_in_process_socket_values(stack, in_process, ours_exact, unit, state):
    _records, namespaces, _degraded = in_process
    service = stack.services[unit]
    for row in server_rows(ours_exact[1], service, state):
        netns = row["netns"]
        assert namespaces[netns]["current"] is (service.netns is None)
        if service.netns:
            assert netns == service.netns
        assert row["comm"] == service.comm
        assert_socket_matches(row, service.expected[state], namespaces[netns])


def test_in_process_ssh_clients_keep_alive_on_the_host_defaults(stack, in_process, ours_exact):
    """The ssh client sets SO_KEEPALIVE too (client TCPKeepAlive defaults to yes)."""
    _records, namespaces, _degraded = in_process
    sshd_ports = {stack.services[u].port for u in ("sshd-ka.service", "sshd-noka.service")}
    rows = [
        row
        for row in ours_exact[1]
        if row["unit"] == CLIENT_SCOPE and _port(row["remote"]) in sshd_ports
    ]
    assert sorted(_port(row["remote"]) for row in rows) == sorted(sshd_ports)
    for row in rows:
        assert (row["comm"], row["state"]) == ("ssh", "established")
        assert_socket_matches(
            row, stack.root_sysctls.defaults("ssh client"), namespaces[row["netns"]]
        )


def test_in_process_units_filter(stack, in_process):
    records, namespaces, _degraded = in_process
    rows = _adoption.socket_rows(_adoption.select(records, units=["redis-ka*"]), namespaces)
    found = sorted((r["unit"], r["state"], r["local"]) for r in rows)
    want = sorted(
        (unit, state, stack.services[unit].listen[0])
        for unit in ("redis-ka60.service", "redis-ka3600.service")
        for state in ("listen", "established")
    )
    # Another run's redis-ka* units may add rows on their own ports; ours must all be there.
    assert [row for row in found if row in want] == want
    assert {r["unit"] for r in rows} <= {"redis-ka60.service", "redis-ka3600.service"}


def test_in_process_keepalive_disabled_filter(stack, in_process, ours_exact):
    _records, namespaces, _degraded = in_process
    chosen = _adoption.select(ours_exact[0], keepalive="disabled")
    rows = _adoption.socket_rows(chosen, namespaces)
    assert {r["keepalive"] for r in rows} == {False}
    found = {(r["unit"], r["state"]) for r in rows if r["unit"] in stack.services}
    off = {
        (unit, state)
        for unit, state in SERVER_SOCKETS
        if not stack.services[unit].expected[state].on
    }
    assert found == off


@pytest.mark.parametrize(("unit", "state"), SERVER_SOCKETS)
def test_in_process_summary_row(stack, ours_exact, unit, state):
    """Summary of the sockets on the service's port: one row per side, ours counted once per
    listening endpoint (nginx-ka listens on IPv4 and IPv6)."""
    service = stack.services[unit]
    on_port = _adoption.select(ours_exact[0], ports=[service.port])
    rows = [
        row
        for row in _adoption.summary_rows(on_port)
        if row["unit"] == unit and row["state"] == state
    ]
    assert len(rows) == 1, rows
    row, expected = rows[0], service.expected[state]
    assert (row["comm"], row["count"], row["source"]) == (
        service.comm,
        len(service.listen),
        "getsockopt",
    ), row
    assert row["keepalive"] is expected.on, row
    if expected.on:
        assert (row["idle"], row["intvl"], row["cnt"]) == (
            expected.idle,
            expected.intvl,
            expected.cnt,
        ), row


@pytest.fixture(scope="module")
def timer_only(stack):
    """The fallback where pidfd_getfd is refused: the same audit from the kernel timer only."""
    return on_our_ports(stack, audit_in_process(exact=False))


@pytest.mark.parametrize(("unit", "state"), SERVER_SOCKETS)
def test_in_process_timer_fallback(stack, timer_only, unit, state):
    """Idle established sockets are told by their keepalive timer; listeners never arm it, so
    their keepalive is unknown (None), never guessed."""
    service = stack.services[unit]
    for row in server_rows(timer_only[1], service, state):
        assert row["source"] == "timer"
        want = service.expected[state].on if state == "established" else None
        assert (row["keepalive"], row["idle"], row["set_by_app"]) == (want, None, None), row


def test_in_process_namespaces_carry_their_own_sysctls(stack, in_process):
    _records, namespaces, _degraded = in_process
    ours = namespaces[stack.netns.name]
    assert sysctls_of(ours) == NETNS_SYSCTLS
    assert ours["inode"] == stack.netns.inode
    (root,) = [entry for entry in namespaces.values() if entry["current"]]
    assert sysctls_of(root) == stack.root_sysctls
    with open("/proc/sys/net/ipv4/tcp_retries2") as handle:
        assert root["tcp_retries2"] == int(handle.read())
    # idle services with their clients: nothing waits for a silent peer
    assert (ours["retransmitting"], ours["probing"]) == (0, 0)


# --- through Ansible: the module on localhost, ansible_connection=local ----------------


def module_cases(stack):
    """name -> (module args, check mode); all run in one ansible-playbook invocation."""
    port = {unit: service.port for unit, service in stack.services.items()}
    ours = sorted(port.values())
    require = [
        "plain-tcp.service",  # never sets SO_KEEPALIVE: must fail
        "nginx-ka.service",
        "netns-holder.service",
        # These set SO_KEEPALIVE on each accepted connection, not on the listener.
        {"name": "sshd-ka.service", "states": ["established"]},
        {"name": "redis-ka60.service", "states": ["established"]},
        {"name": "postgresql.service", "states": ["established"]},
        {"name": "redis-netns7200.service", "states": ["established"]},
        "no-such-unit.service",  # no socket at all: cannot prove keepalive, must fail
    ]
    audit = {"ports": ours, "require": require, "path": ["aws_nat_gateway"]}
    # Every case but bad_port audits the whole host (seconds on a host with 100,000 sockets):
    # one case carries the filter, require and path at once, and runs again in check mode.
    return {
        "default": ({}, False),
        "ours": (audit, False),
        "ours_check": (audit, True),
        "netns_details": ({"details": True, "netns": [stack.netns.name]}, False),
        "bad_port": ({"ports": [70000]}, False),
    }


@pytest.fixture(scope="module")
def via_ansible(stack):
    return run_module_cases(
        MODULE, module_cases(stack), stack.workdir, stack.new_cgroup("ansible-run.scope")
    )


def verdicts_about(result, prefix):
    return [v for v in result["verdicts"] if v["subject"].startswith(prefix)]


@pytest.mark.parametrize("case", ["default", "ours", "ours_check"])
def test_module_never_changes_and_runs_in_check_mode(via_ansible, case):
    result = via_ansible[case]
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert [m for m in result["degraded"] if "refused exact options" not in m] == []


def test_module_default_is_summary_only_with_every_service(stack, via_ansible):
    result = via_ansible["default"]
    assert "sockets" not in result
    for unit, state in SERVER_SOCKETS:
        service, expected = stack.services[unit], stack.services[unit].expected[state]
        values = (expected.idle, expected.intvl, expected.cnt) if expected.on else (None,) * 3
        want = {
            "netns": service.netns or _root_ns_id(result),
            "unit": unit,
            "comm": service.comm,
            "state": state,
            "keepalive": expected.on,
            "idle": values[0],
            "intvl": values[1],
            "cnt": values[2],
            "user_timeout": None,  # none of the daemons sets TCP_USER_TIMEOUT as configured
            "source": "getsockopt",
        }
        rows = [r for r in result["summary"] if {k: r[k] for k in want} == want]
        assert len(rows) == 1 and rows[0]["count"] >= 1, (want, _rows_of(result, unit))


def _root_ns_id(result):
    (root,) = [ns_id for ns_id, ns in result["namespaces"].items() if ns["current"]]
    return root


def _rows_of(result, unit, key="summary"):
    return [r for r in result[key] if r["unit"] == unit]


def test_module_check_mode_reports_the_same(stack, via_ansible):
    # Only our services' rows: the port filter also matches unrelated sockets whose ephemeral
    # port happens to equal one of ours, and those come and go between the two runs. The pid
    # is left out: which holder of a shared socket is named is checked on its own below.
    def ours(result):
        rows = [
            {k: v for k, v in r.items() if k != "pid"}
            for r in result["sockets"]
            if r["unit"] in stack.services
        ]
        verdicts = [v for v in result["verdicts"] if v["subject"].split(" ")[0] in stack.services]
        return sorted(map(repr, rows)), sorted(map(repr, verdicts))

    rows, verdicts = ours(via_ansible["ours_check"])
    assert len(rows) >= len(SERVER_SOCKETS) and verdicts
    assert (rows, verdicts) == ours(via_ansible["ours"])


@pytest.mark.parametrize("case", ["ours", "ours_check"])
def test_module_names_the_lowest_pid_of_a_shared_socket(stack, via_ansible, case):
    """nginx's listeners are held by master and worker: RETURN says pid is the lowest."""
    nginx = stack.services["nginx-ka.service"]
    master = nginx.daemon.proc.pid  # forked the worker, so the lower pid
    rows = server_rows(via_ansible[case]["sockets"], nginx, "listen")
    assert [row["pid"] for row in rows] == [master] * len(rows)


def test_module_namespaces(stack, via_ansible):
    namespaces = via_ansible["default"]["namespaces"]
    ours = namespaces[stack.netns.name]
    assert sysctls_of(ours) == NETNS_SYSCTLS
    assert (ours["inode"], ours["names"], ours["current"]) == (
        stack.netns.inode,
        [stack.netns.name],
        False,
    )
    assert sysctls_of(namespaces[_root_ns_id(via_ansible["default"])]) == stack.root_sysctls


@pytest.mark.parametrize(("unit", "state"), SERVER_SOCKETS)
def test_module_socket_rows(stack, via_ansible, unit, state):
    result = via_ansible["ours"]
    service = stack.services[unit]
    for row in server_rows(result["sockets"], service, state):
        assert row["comm"] == service.comm
        assert row["netns"] == (service.netns or _root_ns_id(result))
        assert_socket_matches(row, service.expected[state], result["namespaces"][row["netns"]])


def test_module_sees_ipv6_sockets(stack, via_ansible):
    """nginx-ka listens on [::1] too; both families come out of the same dump."""
    nginx = stack.services["nginx-ka.service"]
    rows = [r for r in via_ansible["ours"]["sockets"] if r["local"] == f"[::1]:{nginx.port}"]
    assert sorted(r["state"] for r in rows) == ["established", "listen"]
    assert {(r["keepalive"], r["idle"], r["intvl"], r["cnt"]) for r in rows} == {(True, 30, 10, 3)}


def test_module_netns_filter_sees_only_that_namespace(stack, via_ansible):
    result = via_ansible["netns_details"]
    assert list(result["namespaces"]) == [stack.netns.name]
    rows = result["sockets"]
    assert {r["netns"] for r in rows} == {stack.netns.name}
    holder = stack.services["netns-holder.service"]
    server_side = [r for r in rows if r["unit"] == holder.unit]
    assert sorted(r["state"] for r in server_side) == ["established", "listen"]
    ns = NETNS_SYSCTLS
    for row in server_side:  # SO_KEEPALIVE only: the namespace's sysctls, none set by the app
        assert (row["keepalive"], row["idle"], row["intvl"], row["cnt"]) == (
            True,
            ns.time,
            ns.intvl,
            ns.probes,
        )
        assert row["set_by_app"] == {"idle": False, "intvl": False, "cnt": False}
    # Our two clients there (to the holder and to the namespaced redis) set nothing.
    clients = [r for r in rows if r["unit"] not in stack.services]
    assert [(r["state"], r["keepalive"], r["pid"]) for r in clients] == [
        ("established", False, os.getpid())
    ] * 2


def test_require_verdicts_per_service_and_state(via_ansible):
    result = via_ansible["ours"]
    assert not result.get("failed"), result.get("msg")
    verdicts = {
        v["subject"]: (v["status"], v["value"], v["limit"])
        for v in result["verdicts"]
        if v["check"] == "keepalive_required"
    }
    assert verdicts == {
        # value = sockets with keepalive on, limit = sockets found
        "plain-tcp.service (established)": ("fail", 0, 1),
        "plain-tcp.service (listen)": ("fail", 0, 1),
        "nginx-ka.service (established)": ("pass", 2, 2),  # IPv4 and IPv6
        "nginx-ka.service (listen)": ("pass", 2, 2),
        "netns-holder.service (established)": ("pass", 1, 1),
        "netns-holder.service (listen)": ("pass", 1, 1),
        "redis-netns7200.service (established)": ("pass", 1, 1),
        "sshd-ka.service (established)": ("pass", 1, 1),
        "redis-ka60.service (established)": ("pass", 1, 1),
        "postgresql.service (established)": ("pass", 1, 1),
        "no-such-unit.service (established)": ("fail", 0, 0),
        "no-such-unit.service (listen)": ("fail", 0, 0),
    }
    assert result["verdict_summary"]["status"] == "fail"
    (absent, *_listen) = verdicts_about(result, "no-such-unit.service")
    assert "no established TCP socket of no-such-unit.service" in absent["message"]


def test_path_fails_a_service_whose_own_idle_outlives_the_nat(stack, via_ansible):
    """Behind an AWS NAT gateway (350 s idle timeout), in the namespace whose sysctl (300 s) is
    right: the server on the sysctl passes, redis with its own 7200 s still fails. Their
    clients connect through a non-loopback address of that namespace."""
    result = via_ansible["ours"]
    assert established_path_verdict(result, "netns-holder.service") == (
        "pass",
        NETNS_SYSCTLS.time,
        320,
    )  # limit: 350 s - margin 30 s
    assert established_path_verdict(result, "redis-netns7200.service") == ("fail", 7200, 320)


@pytest.mark.parametrize(
    "unit", ["redis-ka3600.service", "sshd-ka.service", "redis-noka.service", "plain-tcp.service"]
)
def test_path_leaves_out_loopback_connections_and_listeners(stack, via_ansible, unit):
    """These would fail behind a 350 s NAT, but their only connections are to 127.0.0.1:
    such a connection never crosses a middlebox, so the path does not judge it."""
    result = via_ansible["ours"]
    assert not [
        v
        for v in result["verdicts"]
        if v["check"] == "socket_idle" and v["subject"].startswith(unit + " ")
    ]
    assert not [
        v for v in result["verdicts"] if v["check"] == "socket_idle" and " listen " in v["subject"]
    ]


def established_path_verdict(result, unit):
    (verdict,) = [
        v
        for v in result["verdicts"]
        if v["check"] == "socket_idle"
        and v["subject"].startswith(unit + " ")
        and " established " in v["subject"]
    ]
    return verdict["status"], verdict["value"], verdict["limit"]


def test_bad_argument_fails_with_the_option_and_range(via_ansible):
    result = via_ansible["bad_port"]
    assert result["failed"] is True
    assert "ports" in result["msg"] and "70000" in result["msg"] and "65535" in result["msg"]


# --- teardown (keep last: pytest runs a file's tests in order) ---------------------------


def test_teardown_leaves_nothing_behind(stack):
    stack.close()
    assert stack.leftovers() == []
    assert stack.pids_seen, "the stack should have recorded the pids it started"

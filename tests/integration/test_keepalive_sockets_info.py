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
from services._ansible import run_module_cases

from ansible_collections.netstack.keepalive.plugins.module_utils import _adoption

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


# --- through Ansible: the module on localhost, ansible_connection=local ----------------


def module_cases(stack):
    """name -> (module args, check mode); all run in one ansible-playbook invocation."""
    port = {unit: service.port for unit, service in stack.services.items()}
    ours = sorted(port.values())
    kept = [
        "nginx-ka.service",
        "netns-holder.service",
        # These set SO_KEEPALIVE on each accepted connection, not on the listener.
        {"name": "sshd-ka.service", "states": ["established"]},
        {"name": "redis-ka60.service", "states": ["established"]},
        {"name": "postgresql.service", "states": ["established"]},
    ]
    behind_nat = [
        port[u] for u in ("redis-ka60.service", "redis-ka3600.service", "sshd-ka.service")
    ]
    return {
        "default": ({}, False),
        "default_check": ({}, True),
        "ours": ({"ports": ours}, False),
        "ours_check": ({"ports": ours}, True),
        "netns_details": ({"details": True, "netns": [stack.netns.name]}, False),
        "redis_units": ({"units": ["redis-ka*"]}, False),
        "disabled": ({"ports": ours, "keepalive": "disabled"}, False),
        "limited": ({"ports": ours, "limit": 3}, False),
        "require_plain": (
            {"require": ["plain-tcp.service"], "ports": [port["plain-tcp.service"]]},
            False,
        ),
        "require_kept": ({"require": kept, "ports": ours}, False),
        "require_absent": ({"require": ["no-such-unit.service"], "ports": ours}, False),
        "path_nat": (
            {"path": ["aws_nat_gateway"], "ports": behind_nat, "states": ["established"]},
            False,
        ),
        "bad_port": ({"ports": [70000]}, False),
    }


@pytest.fixture(scope="module")
def via_ansible(stack):
    return run_module_cases(MODULE, module_cases(stack), stack.workdir)


def verdicts_about(result, prefix):
    return [v for v in result["verdicts"] if v["subject"].startswith(prefix)]


@pytest.mark.parametrize("case", ["default", "default_check", "ours", "ours_check"])
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
            "source": "getsockopt",
        }
        rows = [r for r in result["summary"] if {k: r[k] for k in want} == want]
        assert len(rows) == 1 and rows[0]["count"] >= 1, (want, _rows_of(result, unit))


def _root_ns_id(result):
    (root,) = [ns_id for ns_id, ns in result["namespaces"].items() if ns["current"]]
    return root


def _rows_of(result, unit, key="summary"):
    return [r for r in result[key] if r["unit"] == unit]


def test_module_check_mode_reports_the_same(via_ansible):
    def ours(result):
        return sorted(map(repr, result["sockets"]))

    assert ours(via_ansible["ours_check"]) == ours(via_ansible["ours"])


def test_module_namespaces(stack, via_ansible):
    namespaces = via_ansible["default"]["namespaces"]
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
    assert (ours["inode"], ours["names"], ours["current"]) == (
        stack.netns.inode,
        [stack.netns.name],
        False,
    )
    root = namespaces[_root_ns_id(via_ansible["default"])]
    host = stack.root_sysctls
    assert (
        root["tcp_keepalive_time"],
        root["tcp_keepalive_intvl"],
        root["tcp_keepalive_probes"],
    ) == (
        host.time,
        host.intvl,
        host.probes,
    )


@pytest.mark.parametrize(("unit", "state"), SERVER_SOCKETS)
def test_module_socket_rows(stack, via_ansible, unit, state):
    result = via_ansible["ours"]
    service = stack.services[unit]
    mine = server_rows(result["sockets"], service, state)
    assert len(mine) == 1, (unit, state, _rows_of(result, unit, "sockets"))
    assert mine[0]["comm"] == service.comm
    assert mine[0]["netns"] == (service.netns or _root_ns_id(result))
    assert_socket_matches(mine[0], service.expected[state], result["namespaces"][mine[0]["netns"]])


def test_module_netns_filter_sees_only_that_namespace(stack, via_ansible):
    result = via_ansible["netns_details"]
    assert list(result["namespaces"]) == [stack.netns.name]
    rows = result["sockets"]
    assert {r["netns"] for r in rows} == {stack.netns.name}
    holder = stack.services["netns-holder.service"]
    server_side = [r for r in rows if r["unit"] == holder.unit]
    assert sorted(r["state"] for r in server_side) == ["established", "listen"]
    for row in server_side:  # SO_KEEPALIVE only: the namespace's 600/20/4, none set by the app
        assert (row["keepalive"], row["idle"], row["intvl"], row["cnt"]) == (True, 600, 20, 4)
        assert row["set_by_app"] == {"idle": False, "intvl": False, "cnt": False}
    (client,) = [r for r in rows if r["unit"] != holder.unit]
    assert (client["state"], client["keepalive"], client["pid"]) == (
        "established",
        False,
        os.getpid(),
    )


def test_module_units_filter(stack, via_ansible):
    rows = via_ansible["redis_units"]["sockets"]
    by_unit = {}
    for row in rows:
        by_unit.setdefault(row["unit"], []).append(row["state"])
    for unit in ("redis-ka60.service", "redis-ka3600.service"):
        assert sorted(by_unit.pop(unit)) == ["established", "listen"]
    assert set(by_unit) <= {None} | {u for u in by_unit if u.startswith("redis-ka")}


def test_module_keepalive_disabled_filter(stack, via_ansible):
    result = via_ansible["disabled"]
    assert {r["keepalive"] for r in result["sockets"]} == {False}
    found = {(r["unit"], r["state"]) for r in result["sockets"] if r["unit"] in stack.services}
    off = {
        (unit, state)
        for unit, state in SERVER_SOCKETS
        if not stack.services[unit].expected[state].on and stack.services[unit].netns is None
    }
    assert found == off


def test_module_limit(via_ansible):
    result = via_ansible["limited"]
    assert len(result["sockets"]) == 3
    assert result["truncated"] is True
    assert result["socket_count"] > 3


def test_require_fails_for_the_plain_server(via_ansible):
    result = via_ansible["require_plain"]
    assert not result.get("failed"), result.get("msg")
    verdicts = {v["subject"]: (v["status"], v["value"], v["limit"]) for v in result["verdicts"]}
    assert verdicts == {
        "plain-tcp.service (established)": ("fail", 0, 1),
        "plain-tcp.service (listen)": ("fail", 0, 1),
    }
    assert result["verdict_summary"]["status"] == "fail"


def test_require_passes_for_services_that_keep_alive(via_ansible):
    result = via_ansible["require_kept"]
    statuses = {v["subject"]: v["status"] for v in result["verdicts"]}
    assert statuses == {
        "nginx-ka.service (established)": "pass",
        "nginx-ka.service (listen)": "pass",
        "netns-holder.service (established)": "pass",
        "netns-holder.service (listen)": "pass",
        "sshd-ka.service (established)": "pass",
        "redis-ka60.service (established)": "pass",
        "postgresql.service (established)": "pass",
    }
    assert result["verdict_summary"]["status"] == "pass"


def test_require_fails_for_a_unit_without_sockets(via_ansible):
    (verdict, *_rest) = via_ansible["require_absent"]["verdicts"]
    assert verdict["status"] == "fail"
    assert "no established TCP socket of no-such-unit.service" in verdict["message"]


def test_path_fails_a_service_whose_own_idle_outlives_the_nat(stack, via_ansible):
    """redis tcp-keepalive 3600 behind an AWS NAT gateway (350 s) fails; 60 passes; sshd,
    on the host's sysctl default, fails as well."""
    result = via_ansible["path_nat"]

    def status(unit):
        (verdict,) = verdicts_about(result, unit + " ")
        assert verdict["check"] == "socket_idle"
        return verdict["status"], verdict["value"]

    assert status("redis-ka60.service") == ("pass", 60)
    assert status("redis-ka3600.service") == ("fail", 3600)
    assert status("sshd-ka.service") == ("fail", stack.root_sysctls.time)
    assert result["verdict_summary"]["status"] == "fail"


def test_bad_argument_fails_with_the_option_and_range(via_ansible):
    result = via_ansible["bad_port"]
    assert result["failed"] is True
    assert "ports" in result["msg"] and "70000" in result["msg"] and "65535" in result["msg"]


# --- teardown (keep last: pytest runs a file's tests in order) ---------------------------


def test_teardown_leaves_nothing_behind(stack):
    stack.close()
    assert stack.leftovers() == []
    assert stack.pids_seen, "the stack should have recorded the pids it started"

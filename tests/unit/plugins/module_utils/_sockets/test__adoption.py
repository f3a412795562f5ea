"""Adoption audit: shaping tables, policy checks, and live audits in real namespaces."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
    _observe,
    _sockets_info,
    _procfd,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption import Record
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    normalize_require,
    path_verdicts,
    require_verdicts,
)
from ansible_collections.netstack.keepalive.plugins.module_utils import _vocabulary as vocabulary
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

NS = "net:[1]"
# The documented keys of a socket row, in order.
SOCKET_ROW_KEYS = (
    "netns",
    "pid",
    "comm",
    "unit",
    "state",
    "local",
    "remote",
    "keepalive",
    "idle",
    "intvl",
    "cnt",
    "user_timeout",
    "source",
    "set_by_app",
    "retransmits",
    "probes",
    "backoff",
    "unacked",
    "stall",
)
SYSCTLS = {"tcp_keepalive_time": 7200, "tcp_keepalive_intvl": 75, "tcp_keepalive_probes": 9}


def sid(lport, rport, local="127.0.0.1", remote="127.0.0.1"):
    return (
        struct.pack("!HH", lport, rport)
        + socket.inet_aton(local).ljust(16, b"\0")
        + socket.inet_aton(remote).ljust(16, b"\0")
        + b"\0" * 12
    )


def rec(
    unit,
    comm,
    state,
    keepalive,
    idle=None,
    intvl=None,
    cnt=None,
    source="getsockopt",
    pid=100,
    lport=1000,
    rport=2000,
    user_timeout=None,
    info=(0, 0, 0, 0),
):
    return Record(
        NS,
        pid,
        comm,
        unit,
        state,
        keepalive,
        idle,
        intvl,
        cnt,
        source,
        2,
        sid(lport, rport),
        user_timeout,
        *info,
    )


REDIS_ON = rec("redis.service", "redis-server", "established", True, 300, 75, 9, lport=6379)
REDIS_ON2 = rec("redis.service", "redis-server", "established", True, 300, 75, 9, lport=6379)
REDIS_LISTEN = rec("redis.service", "redis-server", "listen", False, lport=6379, rport=0)
PLAIN_OFF = rec("plain.service", "python3", "established", False, lport=8080)
ORPHAN = rec("/", None, "established", True, source="timer", pid=None, lport=9)
UNKNOWN = rec("x.service", "x", "listen", None, source="timer", lport=7)


@pytest.mark.parametrize(
    "state, timer, expected",
    [
        (1, 2, True),  # established, keepalive timer armed
        (1, 0, False),  # established, idle, no timer: no SO_KEEPALIVE
        (1, 1, None),  # retransmitting: the keepalive timer is hidden
        (1, 4, None),  # zero-window probe
        (10, 0, None),  # listeners never arm it
    ],
)
def test_timer_keepalive(state, timer, expected):
    assert _adoption.timer_keepalive(state, timer) is expected


def test_summary_counts_per_group_and_sorts():
    rows = _adoption.summary_rows([REDIS_ON, PLAIN_OFF, REDIS_ON2, REDIS_LISTEN])
    assert rows == [
        {
            "netns": NS,
            "unit": "plain.service",
            "comm": "python3",
            "state": "established",
            "keepalive": False,
            "idle": None,
            "intvl": None,
            "cnt": None,
            "user_timeout": None,
            "source": "getsockopt",
            "count": 1,
            "retransmitting": 0,
            "probing": 0,
        },
        {
            "netns": NS,
            "unit": "redis.service",
            "comm": "redis-server",
            "state": "established",
            "keepalive": True,
            "idle": 300,
            "intvl": 75,
            "cnt": 9,
            "user_timeout": None,
            "source": "getsockopt",
            "count": 2,
            "retransmitting": 0,
            "probing": 0,
        },
        {
            "netns": NS,
            "unit": "redis.service",
            "comm": "redis-server",
            "state": "listen",
            "keepalive": False,
            "idle": None,
            "intvl": None,
            "cnt": None,
            "user_timeout": None,
            "source": "getsockopt",
            "count": 1,
            "retransmitting": 0,
            "probing": 0,
        },
    ]


ALL = [REDIS_ON, REDIS_LISTEN, PLAIN_OFF, ORPHAN, UNKNOWN]


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({}, ALL),
        ({"units": ["redis*"]}, [REDIS_ON, REDIS_LISTEN]),
        ({"units": ["python3"]}, [PLAIN_OFF]),  # command names match too
        ({"ports": [6379]}, [REDIS_ON, REDIS_LISTEN]),
        ({"ports": [2000]}, [REDIS_ON, PLAIN_OFF, ORPHAN, UNKNOWN]),  # remote port
        ({"keepalive": "enabled"}, [REDIS_ON, ORPHAN]),
        ({"keepalive": "disabled"}, [REDIS_LISTEN, PLAIN_OFF]),  # unknown matches neither
        ({"units": ["redis*"], "keepalive": "disabled"}, [REDIS_LISTEN]),
    ],
)
def test_select(filters, expected):
    assert _adoption.select(ALL, **filters) == expected


@pytest.mark.parametrize(
    "record, expected",
    [
        (REDIS_ON, {"idle": True, "intvl": False, "cnt": False}),
        (rec("a", "a", "listen", True, 7200, 75, 9), {"idle": False, "intvl": False, "cnt": False}),
        (rec("a", "a", "listen", True, 7200, 10, 3), {"idle": False, "intvl": True, "cnt": True}),
        (PLAIN_OFF, None),
        (ORPHAN, None),
    ],
)
def test_set_by_app(record, expected):
    assert _adoption.set_by_app(record, SYSCTLS) == expected


def test_socket_rows_have_exactly_the_documented_keys_and_honour_limit():
    rows = _adoption.socket_rows([REDIS_ON, PLAIN_OFF], {NS: SYSCTLS}, limit=1)
    assert rows == [
        {
            "netns": NS,
            "pid": 100,
            "comm": "redis-server",
            "unit": "redis.service",
            "state": "established",
            "local": "127.0.0.1:6379",
            "remote": "127.0.0.1:2000",
            "keepalive": True,
            "idle": 300,
            "intvl": 75,
            "cnt": 9,
            "user_timeout": None,
            "source": "getsockopt",
            "set_by_app": {"idle": True, "intvl": False, "cnt": False},
            "retransmits": 0,
            "probes": 0,
            "backoff": 0,
            "unacked": 0,
            "stall": None,
        }
    ]
    assert tuple(rows[0]) == SOCKET_ROW_KEYS


@pytest.mark.parametrize(
    "state, retransmits, probes, expected",
    [
        (1, 0, 0, None),  # established, the peer answers
        (1, 3, 0, "retransmitting"),  # data in flight, 3 timeouts without an ACK
        ("established", 1, 2, "retransmitting"),  # names work as well as numbers
        (1, 0, 2, "probing"),  # keepalive (or zero-window) probes unanswered
        (2, 1, 0, "retransmitting"),  # syn_sent: the SYN goes unanswered
        (8, 0, 1, "probing"),  # close_wait
        (10, 0, 0, None),  # listen
        (10, 5, 5, None),  # a listener's tcp_info describes no peer
        ("listen", 1, 0, None),
        (1, None, None, None),  # no tcp_info (time_wait, or not asked for)
    ],
)
def test_stall_of(state, retransmits, probes, expected):
    assert _adoption.stall_of(state, retransmits, probes) == expected


def test_stall_counts_of_a_dump():
    def sock(state, retransmits, probes):
        return (2, state, 0, 0, b"", 0, 0, 1, 0, retransmits, probes, 0, 0)

    dump = [sock(1, 0, 0), sock(1, 2, 0), sock(1, 1, 1), sock(1, 0, 3), sock(10, 0, 0)]
    dump += [sock(6, None, None)]
    assert _adoption.stall_counts(dump) == {"retransmitting": 2, "probing": 1}
    assert _adoption.stall_counts([]) == {"retransmitting": 0, "probing": 0}


def test_summary_counts_stalled_sockets_and_groups_by_user_timeout():
    stuck = rec("api.service", "api", "established", True, 60, 5, 3, info=(4, 0, 4, 9))
    probing = rec("api.service", "api", "established", True, 60, 5, 3, info=(0, 2, 0, 0))
    fine = rec("api.service", "api", "established", True, 60, 5, 3)
    bounded = rec("api.service", "api", "established", True, 60, 5, 3, user_timeout=5.0)
    rows = _adoption.summary_rows([stuck, probing, fine, fine, bounded])
    assert [(r["user_timeout"], r["count"], r["retransmitting"], r["probing"]) for r in rows] == [
        (None, 4, 1, 1),
        (5.0, 1, 0, 0),
    ]
    assert tuple(rows[0]) == vocabulary.SUMMARY_KEYS


@pytest.mark.parametrize(
    "text, expected", [("15\n", 15), ("5", 5), ("", None), ("x\n", None), (None, None)]
)
def test_read_retries2(tmp_path, text, expected):
    path = tmp_path / "tcp_retries2"
    if text is not None:
        path.write_text(text)
    assert _adoption.read_retries2(str(path)) == expected


# ---------------------------------------------------------------- policy checks

ROWS = _adoption.summary_rows(ALL)


@pytest.mark.parametrize(
    "require, expected",
    [
        ([{"name": "redis*", "states": ["established"]}], [("redis* (established)", "pass", 1, 1)]),
        (
            ["redis.service"],
            [
                ("redis.service (established)", "pass", 1, 1),
                ("redis.service (listen)", "fail", 0, 1),
            ],
        ),
        (
            ["python3"],
            [("python3 (established)", "fail", 0, 1), ("python3 (listen)", "fail", 0, 0)],
        ),
        ([{"name": "x.service", "states": ["listen"]}], [("x.service (listen)", "warn", 0, 1)]),
        ([{"name": "ghost", "states": ["established"]}], [("ghost (established)", "fail", 0, 0)]),
    ],
)
def test_require_verdicts(require, expected):
    verdicts = require_verdicts(ROWS, require, ["established", "listen"])
    assert [(v["subject"], v["status"], v["value"], v["limit"]) for v in verdicts] == expected
    assert all(v["check"] == "keepalive_required" for v in verdicts)


def test_require_of_a_state_not_audited_warns():
    (verdict,) = require_verdicts(ROWS, [{"name": "redis*", "states": ["listen"]}], ["established"])
    assert verdict["status"] == "warn" and "not audited" in verdict["message"]


@pytest.mark.parametrize(
    "item",
    [
        42,
        {"states": ["listen"]},
        {"name": "a", "states": ["time_wait"]},
        {"name": "a", "x": 1},
        {"name": "a", "states": []},
    ],
)
def test_normalize_require_rejects_bad_items(item):
    with pytest.raises(KeepaliveError, match=r"require\[1\]="):
        normalize_require([item])


@pytest.mark.parametrize(
    "idle, keepalive, expected",
    [
        (300, True, "pass"),  # 350 s NAT, margin 30: first probe at 300 s is in time
        (330, True, "warn"),  # inside the margin
        (7200, True, "fail"),  # the app's own 7200 s behind a 350 s NAT fails
        (None, False, "fail"),  # no keepalive at all behind a layer-4 box
        (None, None, "warn"),  # cannot tell from the timer
    ],
)
def test_path_verdicts_against_a_nat_gateway(idle, keepalive, expected):
    source = "getsockopt" if keepalive is not None else "timer"
    values = (idle, 75, 9) if idle else (None, None, None)
    row = rec("app.service", "app", "established", keepalive, *values, source=source)
    verdict, busy = path_verdicts(_adoption.summary_rows([row]), ["aws_nat_gateway"])
    assert verdict["check"] == "socket_idle"
    assert busy["check"] == "busy_detection"
    assert verdict["status"] == expected, verdict["message"]
    assert verdict["subject"].startswith("app.service app [%s] established (1 sockets)" % NS)


def test_path_verdicts_empty_path_and_margin_from_profile():
    row = rec("app.service", "app", "established", True, 330, 75, 9)
    rows = _adoption.summary_rows([row])
    assert path_verdicts(rows, []) == []
    verdict, _busy = path_verdicts(rows, ["aws_nat_gateway"], profile={"margin": 10})
    assert verdict["status"] == "pass"


# ---------------------------------------------------------------- report() errors


@pytest.mark.parametrize(
    "params, message",
    [
        ({"ports": [70000]}, r"ports: 70000 is not a TCP port \(allowed 0..65535\)"),
        ({"limit": -1}, r"limit=-1: must be 0 or more"),
        ({"netns": ["no-such-ns-xyz"]}, r"netns='no-such-ns-xyz': no such network namespace"),
        ({"require": [{"name": 1}]}, r"require\[1\]="),
        ({"path": ["no_such_box"]}, r"no_such_box"),
    ],
)
def test_report_errors_name_the_option(params, message):
    full = dict((k, v.get("default")) for k, v in _sockets_info.ARGUMENT_SPEC.items())
    full.update(params)
    with pytest.raises(KeepaliveError, match=message):
        _sockets_info.report(full)


def test_not_linux_is_a_clear_error():
    with pytest.raises(KeepaliveError, match="needs Linux .* this host runs Darwin"):
        _observe.check_platform("Darwin")


# ---------------------------------------------------------------- live, in real namespaces

HOLDER_ADDRESS = "192.0.2.1"  # TEST-NET-1, on lo inside the test's own namespace
HOLDER = r"""
import json, os, socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
listener.bind((sys.argv[1], 0))
listener.listen()
plain = socket.socket()
plain.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
plain.connect(listener.getsockname())
own = socket.socket()
own.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
own.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 7200)
own.connect(listener.getsockname())
peers = [listener.accept()[0], listener.accept()[0]]
print(json.dumps({"port": listener.getsockname()[1], "plain": plain.getsockname()[1],
                  "own": own.getsockname()[1]}), flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def namespaced_holder():
    """A process in a fresh namespace whose sysctls are 600/20/4 and tcp_retries2 6 (not the
    host's).

    Its connections go to a non-loopback address (on lo inside that namespace), not to 127/8:
    the path checks leave loopback connections out (they never cross a middlebox).
    """
    name = "ut-ad-%s" % uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    proc = None
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            ["ip", "-n", name, "addr", "add", HOLDER_ADDRESS + "/32", "dev", "lo"], check=True
        )
        for key, value in (
            ("tcp_keepalive_time", 600),
            ("tcp_keepalive_intvl", 20),
            ("tcp_keepalive_probes", 4),
            ("tcp_retries2", 6),
        ):
            subprocess.run(
                ["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.%s=%d" % (key, value)],
                check=True,
            )
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", HOLDER, HOLDER_ADDRESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ports = json.loads(proc.stdout.readline())
        yield name, proc.pid, ports
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        subprocess.run(["ip", "netns", "del", name], check=True)


def _params(**overrides):
    params = dict((k, v.get("default")) for k, v in _sockets_info.ARGUMENT_SPEC.items())
    params.update(overrides)
    return params


def test_live_audit_compares_each_socket_with_its_own_namespace(namespaced_holder):
    name, pid, ports = namespaced_holder
    result = _sockets_info.report(_params(ports=[ports["port"]]))
    assert result["namespaces"][name]["tcp_keepalive_time"] == 600
    assert result["namespaces"][name]["tcp_keepalive_probes"] == 4
    assert result["namespaces"][name]["tcp_retries2"] == 6
    assert result["namespaces"][name]["retransmitting"] == 0
    assert result["namespaces"][name]["probing"] == 0
    rows = {(r["state"], r["local"].rsplit(":", 1)[1]): r for r in result["sockets"]}
    plain = rows[("established", str(ports["plain"]))]
    own = rows[("established", str(ports["own"]))]
    listen = rows[("listen", str(ports["port"]))]
    assert plain["netns"] == own["netns"] == listen["netns"] == name
    assert plain["pid"] == own["pid"] == listen["pid"] == pid
    assert (plain["keepalive"], plain["idle"], plain["intvl"], plain["cnt"]) == (True, 600, 20, 4)
    assert plain["set_by_app"] == {"idle": False, "intvl": False, "cnt": False}
    # 7200 is the host's default, but in this namespace only the application can have set it
    assert own["idle"] == 7200 and own["set_by_app"]["idle"] is True
    assert listen["keepalive"] is True and listen["source"] == "getsockopt"
    assert result["socket_count"] == 5 and result["truncated"] is False


@pytest.mark.parametrize("exact", [True, False])
def test_live_summaries_counted_without_records_equal_the_records_summaries(
    namespaced_holder, exact
):
    """The summary-only path (no record per socket) tells exactly what the records tell."""
    name, pid, _ports = namespaced_holder
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    server, _peer = listener.accept()
    server.close()  # the server's end: FIN_WAIT2 with no owner, named by its cgroup id
    try:
        # FIN_WAIT1 until the kernel has handled the client's ACK of the FIN: a fast scan
        # can come first, so gather until the state has moved on (bounded).
        deadline = time.monotonic() + 2
        while True:
            gathered = _adoption.gather(_observe.STATE_CHOICES, exact=exact)
            summary, crossing = gathered.summaries(crossing=True)
            waiting = any(r["state"] == "fin_wait1" and r["comm"] is None for r in summary)
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        records = gathered.records()
    finally:
        client.close()
        listener.close()
    assert summary == _adoption.summary_rows(records)
    assert crossing == _adoption.summary_rows(_adoption.crossing_the_path(records))
    assert any(r["state"] == "fin_wait2" and r["comm"] is None for r in summary)
    # the holder's two connections to 192.0.2.1 (not loopback) cross the path, both ends
    assert sum(r["count"] for r in crossing if r["netns"] == name) == 4
    assert all(r["state"] == "established" for r in crossing)


def test_live_path_check_fails_an_app_that_sets_7200_behind_a_nat(namespaced_holder):
    name, _pid, ports = namespaced_holder
    result = _sockets_info.report(
        _params(netns=[name], ports=[ports["own"]], path=["aws_nat_gateway"])
    )
    statuses = {
        (v["check"], v["subject"].split(" (")[0].split()[-1]): v["status"]
        for v in result["verdicts"]
    }
    assert statuses == {
        ("socket_idle", "established"): "fail",
        # tcp_retries2 6 of the holder's namespace can drop a busy connection after 25.6 s,
        # inside the default tolerate_outage of 30 s
        ("busy_detection", "established"): "warn",
    }
    busy = [v for v in result["verdicts"] if v["check"] == "busy_detection"]
    assert busy
    for verdict in busy:
        assert "tcp_retries2 6 of namespace %s" % name in verdict["message"]
        assert "a network blip of 25.6 s can drop a busy connection" in verdict["message"]
    assert result["verdict_summary"]["status"] == "fail"
    assert list(result["namespaces"]) == [name]


def test_live_require_and_limit(namespaced_holder):
    name, _pid, ports = namespaced_holder
    result = _sockets_info.report(
        _params(netns=[name], limit=1, require=[{"name": "python*", "states": ["established"]}])
    )
    assert len(result["sockets"]) == 1 and result["truncated"] is True
    (verdict,) = result["verdicts"]
    assert (verdict["status"], verdict["value"], verdict["limit"]) == ("pass", 4, 4)


def test_live_timer_only_audit(namespaced_holder):
    name, _pid, ports = namespaced_holder
    result = _sockets_info.report(_params(netns=[name], exact=False, details=True))
    by_port = {(r["state"], int(r["local"].rsplit(":", 1)[1])): r for r in result["sockets"]}
    assert {r["source"] for r in result["sockets"]} == {"timer"}
    assert by_port[("established", ports["plain"])]["keepalive"] is True  # idle, timer armed
    assert by_port[("listen", ports["port"])]["keepalive"] is None  # listeners: cannot tell
    assert all(r["set_by_app"] is None and r["idle"] is None for r in result["sockets"])


def test_live_degraded_when_pidfd_getfd_is_missing(namespaced_holder, monkeypatch):
    name, _pid, _ports = namespaced_holder
    monkeypatch.setattr(
        _procfd, "exact_options_support", lambda: "pidfd_getfd refused: Function not implemented"
    )
    result = _sockets_info.report(_params(netns=[name]))
    assert result["degraded"] == [
        "exact options unavailable (pidfd_getfd refused: Function not implemented): "
        "source is the kernel timer"
    ]
    assert {row["source"] for row in result["summary"]} == {"timer"}


def test_live_audit_does_not_duplicate_where_it_would_reclassify_traffic(
    namespaced_holder, monkeypatch
):
    name, _pid, _ports = namespaced_holder
    monkeypatch.setattr(_procfd, "retagging_controllers", lambda cgroups: ["net_cls"])
    result = _sockets_info.report(_params(netns=[name]))
    (reason,) = result["degraded"]
    assert reason.startswith("exact options unavailable (cgroup v1 net_cls mounted: ")
    assert {row["source"] for row in result["summary"]} == {"timer"}


NOBODY = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
os.setgid(65534)
os.setuid(65534)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _sockets_info
params = dict((k, v.get("default")) for k, v in _sockets_info.ARGUMENT_SPEC.items())
print(json.dumps(_sockets_info.report(params)))
"""


def _world_readable_module_utils(base):
    """Copy module_utils under ``base`` as a collection tree anyone can read and traverse.

    The checkout may sit in a folder only root can enter (root's 0700 home, ``mktemp -d``)
    and may have been created under any umask, so ``nobody`` imports a private copy instead.
    Modes are set explicitly: the umask of the test run must not decide them.
    """
    source = Path(__file__).resolve().parents[5] / "plugins" / "module_utils"
    target = base / "ansible_collections" / "netstack" / "keepalive" / "plugins" / "module_utils"
    for folder in sorted({source, *(p.parent for p in source.rglob("*.py"))}):
        (target / folder.relative_to(source)).mkdir(parents=True, exist_ok=True)
        os.chmod(target / folder.relative_to(source), 0o755)
    for module in source.rglob("*.py"):
        copy = target / module.relative_to(source)
        copy.write_bytes(module.read_bytes())
        os.chmod(copy, 0o644)
    for folder in [target, *target.parents]:
        os.chmod(folder, 0o755)
        if folder == base:
            break
    return str(base)


def test_non_root_runs_degraded_without_traceback(namespaced_holder):
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    # /tmp itself, not TMPDIR or pytest's tmp_path: both may be private to root.
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        collections = _world_readable_module_utils(Path(tmp))
        out = subprocess.run(
            [python, "-B", "-c", NOBODY, collections],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
        )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert any(r.startswith("not running as root") for r in result["degraded"])
    assert any("skipped" in r for r in result["degraded"])  # other namespaces cannot be entered
    assert namespaced_holder[0] not in result["namespaces"]

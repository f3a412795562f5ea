"""keepalive_sockets_info against the running kernel: user timeouts, tcp_retries2 per
namespace, and connections stuck right now.

Two plain network namespaces joined by a veth pair (client 192.0.2.1, peer 192.0.2.2); the
client's namespace has ``net.ipv4.tcp_retries2 = 5``. A peer process holds three accepted
connections without reading; a client process opens them:

- ``bounded``: ``TCP_USER_TIMEOUT`` 5000 ms, idle;
- ``busy``: sends data once the peer is blackholed (an nftables ``drop`` in the peer's
  namespace), so the kernel retransmits it;
- ``probing``: keepalive 1/1/30, idle: its probes go unanswered once the peer is blackholed.

The audit then has to report ``user_timeout: 5.0`` for the first, ``tcp_retries2: 5`` for the
namespace and count the second as retransmitting and the third as probing, in the socket rows,
the summary and the namespace, while they are stuck (well inside the ~12 s the kernel retries
the busy one with retries2 = 5 and the 30 s the probes last). Every namespace and process is
removed, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _sockets_info

pytestmark = pytest.mark.lab

CLIENT_ADDR, PEER_ADDR, PORT = "192.0.2.1", "192.0.2.2", 5000
SETUP_TIMEOUT = 10
STUCK_WITHIN = 8.0  # seconds the audit may take to see both stuck connections

PEER = r"""
import socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(8)
print("ready", flush=True)
held = [listener.accept()[0] for _ in range(3)]
print("accepted", flush=True)
sys.stdin.read()
"""

CLIENT = r"""
import json, socket, sys
peer = (sys.argv[1], int(sys.argv[2]))
socks = {}
bounded = socket.socket()
bounded.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 5000)
busy = socket.socket()
probing = socket.socket()
probing.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
probing.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
probing.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
probing.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 30)
for name, sock in (("bounded", bounded), ("busy", busy), ("probing", probing)):
    sock.connect(peer)
    socks[name] = sock.getsockname()[1]
print(json.dumps(socks), flush=True)
sys.stdin.readline()  # "go": the peer is blackholed
busy.send(b"x" * 1000)
print("sent", flush=True)
sys.stdin.read()
"""

BLACKHOLE = """
table inet blackhole {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr %s counter drop
  }
}
""" % CLIENT_ADDR  # fmt: skip


def _run(argv, input=None):
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False, input=input
    )


def _check(argv, input=None):
    proc = _run(argv, input=input)
    if proc.returncode != 0:
        raise RuntimeError("%s -> %s: %s" % (" ".join(argv), proc.returncode, proc.stderr))
    return proc.stdout


def _readline(proc, what, timeout=SETUP_TIMEOUT):
    result = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or not result[0]:
        raise RuntimeError("no %r from pid %s within %s s" % (what, proc.pid, timeout))
    return result[0].strip()


class Pair:
    """Two namespaces and a veth between them; ``close()`` removes everything it made."""

    def __init__(self, prefix):
        self.client, self.peer = prefix + "uc", prefix + "up"
        self.procs = []
        self.made = []
        try:
            for ns in (self.client, self.peer):
                _check(["ip", "netns", "add", ns])
                self.made.append(ns)
            _check(["ip", "link", "add", "vc", "netns", self.client, "type", "veth",
                    "peer", "name", "vp", "netns", self.peer])  # fmt: skip
            for ns, dev, addr in ((self.client, "vc", CLIENT_ADDR), (self.peer, "vp", PEER_ADDR)):
                _check(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev])
                _check(["ip", "-n", ns, "link", "set", dev, "up"])
                _check(["ip", "-n", ns, "link", "set", "lo", "up"])
        except BaseException:
            self.close()
            raise

    def spawn(self, ns, script, *args):
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=SETUP_TIMEOUT)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                stream.close()
        for ns in reversed(self.made):
            _run(["ip", "-n", ns, "link", "del", "vc" if ns == self.client else "vp"])
        for ns in reversed(self.made):
            _run(["ip", "netns", "del", ns])


def _params(**overrides):
    params = dict((k, v.get("default")) for k, v in _sockets_info.ARGUMENT_SPEC.items())
    params.update(overrides)
    return params


def _run_prefix(config):
    """A name prefix unique to this run and known to the session guard of conftest.py, which
    fails the run if any namespace with it is left behind."""
    for plugin in config.pluginmanager.get_plugins():
        if hasattr(plugin, "new_lab_params"):
            return plugin.new_lab_params()["prefix"]
    raise RuntimeError("tests/integration/conftest.py is not loaded")


@pytest.fixture(scope="module")
def stuck(request):
    """``(client namespace, client pid, {name: local port}, rows, summary result, waited s)``
    of one audit made while ``busy`` retransmits and ``probing`` probes."""
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces, nftables, pidfd_getfd)")
    if shutil.which("nft") is None:
        pytest.fail("nft is missing: run the project set-up (scripts/setup.sh installs nftables)")
    pair = Pair(_run_prefix(request.config))
    try:
        _check(["ip", "netns", "exec", pair.client, "sysctl", "-qw", "net.ipv4.tcp_retries2=5"])
        peer = pair.spawn(pair.peer, PEER, PEER_ADDR, str(PORT))
        assert _readline(peer, "ready") == "ready"
        client = pair.spawn(pair.client, CLIENT, PEER_ADDR, str(PORT))
        ports = json.loads(_readline(client, "ports"))
        assert _readline(peer, "accepted") == "accepted"
        _check(["ip", "netns", "exec", pair.peer, "nft", "-f", "-"], input=BLACKHOLE)
        client.stdin.write("go\n")
        client.stdin.flush()
        assert _readline(client, "sent") == "sent"
        started = time.monotonic()
        wanted = {ports["busy"]: "retransmitting", ports["probing"]: "probing"}
        while True:
            result = _sockets_info.report(
                _params(netns=[pair.client], ports=sorted(ports.values()))
            )
            rows = {int(row["local"].rsplit(":", 1)[1]): row for row in result["sockets"]}
            seen = {port: rows[port]["stall"] for port in wanted if port in rows}
            if seen == wanted or time.monotonic() - started > STUCK_WITHIN:
                break
            time.sleep(0.2)
        summary = _sockets_info.report(_params(netns=[pair.client]))  # no records: fast path
        waited = time.monotonic() - started
        yield pair.client, client.pid, ports, rows, result, summary, waited
    finally:
        pair.close()


def test_user_timeout_is_reported_in_seconds_exactly(stuck):
    _ns, pid, ports, rows, _result, summary, _waited = stuck
    bounded = rows[ports["bounded"]]
    assert (bounded["pid"], bounded["source"], bounded["user_timeout"]) == (pid, "getsockopt", 5.0)
    assert bounded["keepalive"] is False and bounded["stall"] is None
    assert rows[ports["busy"]]["user_timeout"] is None  # none set
    groups = [r for r in summary["summary"] if r["state"] == "established"]
    not_alive = [r for r in groups if r["keepalive"] is False]
    assert {r["user_timeout"]: r["count"] for r in not_alive} == {None: 1, 5.0: 1}
    assert len(not_alive) == 2  # grouped by user_timeout like by idle/intvl/cnt


def test_namespace_reports_its_own_tcp_retries2(stuck):
    ns, _pid, _ports, _rows, result, summary, _waited = stuck
    assert result["namespaces"][ns]["tcp_retries2"] == 5
    assert summary["namespaces"][ns]["tcp_retries2"] == 5


def test_blackholed_connection_counts_as_retransmitting_while_it_is_stuck(stuck):
    ns, _pid, ports, rows, result, summary, waited = stuck
    busy, probing = rows[ports["busy"]], rows[ports["probing"]]
    assert waited < STUCK_WITHIN + 5
    assert busy["stall"] == "retransmitting", busy
    assert busy["retransmits"] >= 1 and busy["backoff"] >= 1 and busy["unacked"] >= 1
    assert probing["stall"] == "probing", probing
    assert probing["probes"] >= 1 and probing["retransmits"] == 0 and probing["unacked"] == 0
    assert rows[ports["bounded"]]["stall"] is None
    for audit in (result, summary):
        assert (audit["namespaces"][ns]["retransmitting"], audit["namespaces"][ns]["probing"]) == (
            1,
            1,
        )
        stalled = [(r["retransmitting"], r["probing"]) for r in audit["summary"] if r["count"]]
        assert (sum(r for r, _p in stalled), sum(p for _r, p in stalled)) == (1, 1)

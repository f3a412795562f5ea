"""The detection model (plugins/module_utils/_policy/_detection.py) against the running kernel.

Each case builds two plain network namespaces joined by a veth pair (client 192.0.2.1, peer
192.0.2.2), opens a real TCP connection between them, blackholes the peer with an nftables
``drop`` rule in the peer's namespace, and measures in the client process the time from the
last moment the peer was heard from until the socket fails with ETIMEDOUT:

- idle: from ``connect()`` returning (the SYN-ACK is the last segment received) to the
  error on a blocked ``recv()``; keepalive set per socket before ``connect()``;
- busy: from the first ``send()`` of data the peer never acknowledges to the error on the
  blocked ``sendall()``; ``net.ipv4.tcp_retries2`` / ``tcp_rto_max_ms`` set in the client's
  namespace only, ``TCP_USER_TIMEOUT`` on the socket.

The busy model is fed the socket's own RTO (``tcpi_rto`` of TCP_INFO, read before the
blackhole: the 200 ms floor plus the veth's RTT, rounded up to a jiffy), so the only slack
left is the kernel's timer wheel, which rounds every expiry up (never down) to its bucket.

Tolerance: ``model - 0.05 s <= measured <= model + 5 % of model + 0.2 s`` (TCP_RTO_MIN).
The lower bound is tight because kernel timers never fire early (0.05 s covers the client's
clock starting a few microseconds before the kernel's); the upper bound covers the timer
wheel (at HZ=250 up to 32 ms per expiry below 2 s and 256 ms per expiry below 16 s) and
wake-up latency on a loaded machine. Where an expiry lands within the timer wheel's rounding
of the give-up threshold, lateness decides between two expiries: then anything from the
earliest possible drop (first retransmission + threshold) is allowed (``_allowed``).

All cases run concurrently (about 14 s together); every namespace and process is removed,
also on failure. ``pytest -s`` prints the model-vs-measured table.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._detection import (
    RTO_MIN,
    detection_busy,
    detection_idle,
    retransmission_times,
)

pytestmark = pytest.mark.lab

CLIENT_ADDR, PEER_ADDR, PORT = "192.0.2.1", "192.0.2.2", 5000
TOLERANCE_RELATIVE = 0.05
TOLERANCE_ABSOLUTE = RTO_MIN  # 0.2 s
EARLY_SLACK = 0.05
SETUP_TIMEOUT = 10

# Holds the accepted connection without reading, until its stdin closes.
PEER = r"""
import socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(1)
print("ready", flush=True)
conn, _ = listener.accept()
print("accepted", flush=True)
sys.stdin.read()
"""

# Connects with the options it is given, reports its RTO, waits for "go" (the blackhole is
# in place), then blocks until the kernel fails the socket; prints the measured seconds.
CLIENT = r"""
import errno, json, socket, struct, sys, time
spec = json.loads(sys.argv[1])
sock = socket.socket()
if spec.get("keepalive"):
    idle, intvl, cnt = spec["keepalive"]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, intvl)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cnt)
if spec.get("user_timeout_ms"):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, spec["user_timeout_ms"])
sock.connect((spec["peer"], spec["port"]))
connected = time.monotonic()
info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
rto_us = struct.unpack_from("I", info, 8)[0]  # struct tcp_info: 8 bytes of u8, then tcpi_rto
print(json.dumps({"rto": rto_us / 1e6}), flush=True)
sys.stdin.readline()  # "go"
error = None
if spec["mode"] == "idle":
    start = connected
    try:
        sock.recv(1)
    except OSError as exc:
        error = exc.errno
else:
    chunk = b"x" * 65536
    start = time.monotonic()
    try:
        while True:
            sock.sendall(chunk)
    except OSError as exc:
        error = exc.errno
end = time.monotonic()
print(json.dumps({"elapsed": end - start, "errno": error,
                  "error": errno.errorcode.get(error, str(error))}), flush=True)
"""

BLACKHOLE = (
    """
table inet blackhole {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr %s counter drop
  }
}
"""
    % CLIENT_ADDR
)


@dataclass
class Case:
    """One measurement: socket options, client-namespace sysctls and the model's figure."""

    id: str
    label: str
    mode: str  # idle | busy
    keepalive: tuple | None = None  # (time, intvl, probes)
    user_timeout: float | None = None  # seconds
    sysctls: dict = field(default_factory=dict)
    retries2: int = 15
    rto_max: float = 120.0

    def model(self, rto_initial=RTO_MIN):
        if self.mode == "idle":
            return detection_idle(*self.keepalive, user_timeout=self.user_timeout)
        return detection_busy(
            self.retries2, rto_initial, self.rto_max, user_timeout=self.user_timeout
        )

    def expiries(self, rto_initial):
        """Busy: the model's retransmission-timer expiries (s) and its give-up threshold."""
        times = retransmission_times(
            self.retries2, rto_initial, self.rto_max, user_timeout=self.user_timeout
        )
        return times["retransmissions"] + [times["dropped"]], times["threshold"]


CASES = [
    Case("a", "idle, keepalive 1/1/3", "idle", keepalive=(1, 1, 3)),
    Case(
        "b",
        "busy, tcp_retries2=3",
        "busy",
        retries2=3,
        sysctls={"net.ipv4.tcp_retries2": 3},
    ),  # fmt: skip
    # With an RTO of 204 ms (HZ=250) the 5th expiry is 80 ms short of the threshold: within
    # the timer wheel's rounding, so lateness decides between two expiries (see _allowed).
    Case("b4", "busy, tcp_retries2=4", "busy", retries2=4, sysctls={"net.ipv4.tcp_retries2": 4}),
    Case("b5", "busy, tcp_retries2=5", "busy", retries2=5, sysctls={"net.ipv4.tcp_retries2": 5}),
    Case(
        "b0",
        "busy, tcp_retries2=0 (one retransmission)",
        "busy",
        retries2=0,
        sysctls={"net.ipv4.tcp_retries2": 0},
    ),  # fmt: skip
    Case(
        "b-rto",
        "busy, tcp_retries2=5, tcp_rto_max_ms=1000",
        "busy",
        retries2=5,
        rto_max=1.0,
        sysctls={"net.ipv4.tcp_retries2": 5, "net.ipv4.tcp_rto_max_ms": 1000},
    ),  # fmt: skip
    Case("c", "busy, TCP_USER_TIMEOUT 2.5 s, retries2 15", "busy", user_timeout=2.5),
    Case(
        "c-long",
        "busy, TCP_USER_TIMEOUT 5 s over retries2=3 (3.0 s)",
        "busy",
        user_timeout=5.0,
        retries2=3,
        sysctls={"net.ipv4.tcp_retries2": 3},
    ),  # fmt: skip
    Case(
        "d",
        "idle, keepalive 1/2/5, TCP_USER_TIMEOUT 4 s < 2 x 5",
        "idle",
        keepalive=(1, 2, 5),
        user_timeout=4.0,
    ),  # fmt: skip
    Case(
        "d-long",
        "idle, keepalive 1/1/2, TCP_USER_TIMEOUT 6 s > 1 x 2",
        "idle",
        keepalive=(1, 1, 2),
        user_timeout=6.0,
    ),  # fmt: skip
]


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
    """A line from ``proc``'s stdout within ``timeout`` seconds (else RuntimeError)."""
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
        self.client, self.peer = prefix + "c", prefix + "p"
        self.procs = []
        self.made = []
        try:
            for ns in (self.client, self.peer):
                _check(["ip", "netns", "add", ns])
                self.made.append(ns)
            _check(["ip", "link", "add", "vc", "netns", self.client, "type", "veth",
                    "peer", "name", "vp", "netns", self.peer])  # fmt: skip
            for ns, dev, addr in (
                (self.client, "vc", CLIENT_ADDR),
                (self.peer, "vp", PEER_ADDR),
            ):
                _check(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev])
                _check(["ip", "-n", ns, "link", "set", dev, "up"])
                _check(["ip", "-n", ns, "link", "set", "lo", "up"])
        except BaseException:
            self.close()
            raise

    def sysctl(self, ns, name, value):
        _check(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "%s=%s" % (name, value)])

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

    def blackhole(self):
        _check(["ip", "netns", "exec", self.peer, "nft", "-f", "-"], input=BLACKHOLE)

    def dropped(self):
        out = _check(["ip", "netns", "exec", self.peer, "nft", "list", "table", "inet",
                      "blackhole"])  # fmt: skip
        words = out.split()
        return int(words[words.index("packets") + 1])

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


def measure(case, prefix):
    """Run ``case`` in its own namespace pair; return what the client measured."""
    pair = Pair(prefix)
    try:
        for name, value in case.sysctls.items():
            pair.sysctl(pair.client, name, value)
        peer = pair.spawn(pair.peer, PEER, PEER_ADDR, str(PORT))
        assert _readline(peer, "ready") == "ready"
        spec = {"mode": case.mode, "peer": PEER_ADDR, "port": PORT,
                "keepalive": case.keepalive}  # fmt: skip
        if case.user_timeout:
            spec["user_timeout_ms"] = int(round(case.user_timeout * 1000))
        client = pair.spawn(pair.client, CLIENT, json.dumps(spec))
        rto = json.loads(_readline(client, "rto"))["rto"]
        assert _readline(peer, "accepted") == "accepted"
        pair.blackhole()
        client.stdin.write("go\n")
        client.stdin.flush()
        wait = case.model(rto) * 1.5 + 5
        result = json.loads(_readline(client, "result", timeout=wait))
        result.update(rto=rto, dropped=pair.dropped())
        return result
    finally:
        pair.close()


def _run_prefix(config):
    """A name prefix unique to this run and known to the session guard of conftest.py, which
    fails the run if any namespace with it is left behind."""
    for plugin in config.pluginmanager.get_plugins():
        if hasattr(plugin, "new_lab_params"):
            return plugin.new_lab_params()["prefix"]
    raise RuntimeError("tests/integration/conftest.py is not loaded")


@pytest.fixture(scope="module")
def measured(request):
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces, nftables)")
    if shutil.which("nft") is None:
        pytest.fail("nft is missing: run the project set-up (scripts/setup.sh installs nftables)")
    prefix = _run_prefix(request.config)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {
            case.id: pool.submit(measure, case, "%s%s" % (prefix, case.id)) for case in CASES
        }
        results = {}
        for key, future in futures.items():
            try:
                results[key] = future.result()
            except Exception as exc:  # reported per case by its test
                results[key] = exc
    wall = time.monotonic() - started
    _print_table(results, wall)
    return results


def _hz():
    """The kernel's CONFIG_HZ, or None when its config is not readable."""
    release = os.uname().release
    try:
        with open("/boot/config-%s" % release, encoding="utf-8") as config:
            text = config.read()
    except OSError:
        try:
            with gzip.open("/proc/config.gz", "rt", encoding="utf-8") as config:
                text = config.read()
        except OSError:
            return None
    found = re.search(r"^CONFIG_HZ=(\d+)$", text, re.M)
    return int(found.group(1)) if found else None


def _lateness(delay, hz):
    """The most a timer armed ``delay`` s ahead fires late: the timer wheel (kernel/time/
    timer.c) rounds its expiry up to a bucket of 8**level jiffies, level 0 below 63 jiffies,
    level n below 63 * 8**n; plus one jiffy for the tick that runs it."""
    jiffies, level = delay * hz, 0
    while jiffies >= 63 * 8**level and level < 8:
        level += 1
    return (8**level + 1) / hz


def _allowed(case, result):
    """``(low, high, note)``: the measured seconds the model allows for ``case``.

    ``model - 0.05 s .. model x 1.05 + 0.2 s``, except where timer lateness can decide
    between two retransmission-timer expiries: when the expiry before the model's drop could,
    late by the most the timer wheel allows, pass the give-up threshold, the kernel may drop
    there. Then anything from the earliest possible drop (first retransmission + threshold)
    to the model's figure is allowed, and the note says so.
    """
    model = case.model(result["rto"])
    low, high = model - EARLY_SLACK, model * (1 + TOLERANCE_RELATIVE) + TOLERANCE_ABSOLUTE
    if case.mode == "idle" or case.user_timeout is not None:
        return low, high, ""
    expiries, threshold = case.expiries(result["rto"])
    drop = len(expiries) - 1
    if drop < 2:
        return low, high, ""
    hz = _hz()
    late = sum(
        _lateness(expiries[i] - expiries[i - 1], hz) if hz else expiries[i] - expiries[i - 1]
        for i in range(1, drop)
    )  # fmt: skip
    if expiries[drop - 1] - expiries[0] + late < threshold:
        return low, high, ""
    earliest = expiries[0] + threshold
    return earliest - EARLY_SLACK, high, "timer lateness decides: >= %.3f" % earliest


def _print_table(results, wall):
    head = "%-6s %-52s %9s %9s %9s %8s %7s %7s  %s" % (
        "case", "connection", "model@0.2", "model", "measured", "delta", "rto", "dropped",
        "note",
    )  # fmt: skip
    lines = ["", head, "-" * len(head)]
    for case in CASES:
        result = results[case.id]
        if isinstance(result, Exception):
            lines.append("%-6s %-52s failed: %s" % (case.id, case.label, result))
            continue
        model = case.model(result["rto"])
        note = _allowed(case, result)[2]
        if result["error"] != "ETIMEDOUT":
            note = ("%s; " % note if note else "") + "error " + result["error"]
        lines.append(
            "%-6s %-52s %9.3f %9.3f %9.3f %+8.3f %7.3f %7s  %s"
            % (
                case.id,
                case.label,
                case.model(),
                model,
                result["elapsed"],
                result["elapsed"] - model,
                result["rto"],
                result["dropped"],
                note,
            )  # fmt: skip
        )
    lines.append(
        "model@0.2: the model at the 200 ms RTO floor; model: with the socket's RTO (tcpi_rto); "
        "dropped: packets the blackhole dropped"
    )
    lines.append(
        "tolerance: model - %.2f s <= measured <= model x %.2f + %.1f s; %d cases in %.1f s "
        "(kernel %s, HZ=%s)"
        % (
            EARLY_SLACK,
            1 + TOLERANCE_RELATIVE,
            TOLERANCE_ABSOLUTE,
            len(CASES),
            wall,
            os.uname().release,
            _hz(),
        )  # fmt: skip
    )
    print("\n".join(lines))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_kernel_agrees_with_model(measured, case):
    result = measured[case.id]
    if isinstance(result, Exception):
        raise result
    assert result["error"] == "ETIMEDOUT", result
    low, high, note = _allowed(case, result)
    assert low <= result["elapsed"] <= high, (
        "%s: measured %.3f s, model %.3f s (allowed %.3f..%.3f s%s)"
        % (
            case.label,
            result["elapsed"],
            case.model(result["rto"]),
            low,
            high,
            "; " + note if note else "",
        )  # fmt: skip
    )


def test_rto_starts_at_the_floor(measured):
    """On a veth the RTT is microseconds: the socket's RTO is the 200 ms floor plus the RTT,
    rounded up to a whole jiffy (204 ms at HZ=250), never the floor itself."""
    for case in CASES:
        result = measured[case.id]
        if not isinstance(result, Exception):
            assert RTO_MIN < result["rto"] <= RTO_MIN + 0.011, (case.id, result)


def test_idle_probes_reach_the_peer(measured):
    """The blackhole saw the keepalive probes, plus the RST sent when the connection drops:
    the connection was idle and keepalive, not anything else, ended it."""
    for case in CASES:
        result = measured[case.id]
        if case.mode != "idle" or isinstance(result, Exception):
            continue
        time_, intvl, probes = case.keepalive
        expected = probes
        if case.user_timeout is not None:
            expected = round((detection_idle(*case.keepalive, case.user_timeout) - time_) / intvl)
        assert result["dropped"] == expected + 1, (case.id, result)

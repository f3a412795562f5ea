"""Real traffic through the lab's router (tests/lab/router.py): a peer, clients, a proxy.

- ``PeerServer``: an echo server inside the outside host (every line back, many connections).
- ``IdleClient``: a process inside an inside host that opens one connection with the socket
  options it is given, exchanges a line, stays idle (or sends an application heartbeat every
  ``heartbeat`` s), then sends a line after the idle and reports what came back: the echo
  (``alive``), an end of file (the box sent FIN), ECONNRESET (RST) or ETIMEDOUT (segments
  silently dropped; ``user_timeout`` bounds that wait). The process lives through the idle,
  so an audit run meanwhile sees its socket.
- ``haproxy``: a real HAProxy in the router's namespace, a layer-7 box in TCP mode.

Every process is killed by ``close()``; the router's own ``close()`` kills what it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time

from lab import Lab

PEER_PORT = 7000
PROXY_PORT = 8080
START_TIMEOUT = 20

PEER = r"""
import socket, sys, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(64)
print("ready", flush=True)

def echo(conn):
    with conn:
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)
        except OSError:
            pass

while True:
    conn, _ = listener.accept()
    threading.Thread(target=echo, args=(conn,), daemon=True).start()
"""

CLIENT = r"""
import errno, json, select, socket, sys, time
spec = json.loads(sys.argv[1])
sock = socket.socket()
keepalive = spec.get("keepalive")
if keepalive:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in zip(("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"), keepalive):
        if value:
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
if spec.get("user_timeout"):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(spec["user_timeout"] * 1000))
sock.connect((spec["peer"], spec["port"]))
started = time.monotonic()

def exchange(line):
    sock.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError
        got += chunk
    return got

def report(**fields):
    fields["elapsed"] = round(time.monotonic() - started, 3)
    print(json.dumps(fields), flush=True)

exchange(b"hello\n")
print(json.dumps({"connected": sock.getsockname()[1]}), flush=True)
beats, deadline = 0, started + spec["idle"]
next_beat = started + spec["heartbeat"] if spec.get("heartbeat") else None
try:
    while True:
        now = time.monotonic()
        wake = min(deadline, next_beat) if next_beat else deadline
        if now >= deadline:
            break
        readable, _, _ = select.select([sock], [], [], max(0.0, wake - now))
        if readable:
            data = sock.recv(4096)
            report(outcome="fin" if not data else "unexpected", during_idle=True, beats=beats)
            sys.exit(0)
        if next_beat and time.monotonic() >= next_beat:
            exchange(b"beat\n")
            beats += 1
            next_beat += spec["heartbeat"]
    sock.settimeout(spec["answer_within"])
    answer = exchange(b"after idle\n")
    report(outcome="alive" if answer == b"after idle\n" else "unexpected", beats=beats)
except EOFError:
    report(outcome="fin", during_idle=False, beats=beats)
except OSError as exc:  # socket.timeout (no errno) and ETIMEDOUT are both TimeoutError
    names = {None: "no_answer", errno.ECONNRESET: "reset", errno.ETIMEDOUT: "timed_out",
             errno.EPIPE: "reset"}
    report(outcome=names.get(exc.errno, errno.errorcode.get(exc.errno, str(exc))), beats=beats)
"""

HAPROXY = """
global
  maxconn 200
defaults
  mode tcp
  timeout connect 3s
  timeout client %(idle)ds
  timeout server %(idle)ds
frontend lab_proxy
  bind %(listen)s:%(port)d
  default_backend peer
backend peer
  server peer %(peer)s:%(peer_port)d
"""


def _readline(proc, what, timeout=START_TIMEOUT):
    result = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or not result[0]:
        err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        raise RuntimeError("no %s from pid %s within %s s %s" % (what, proc.pid, timeout, err))
    return result[0].strip()


class Processes:
    """Processes started inside lab hosts; ``close()`` kills them all."""

    def __init__(self, lab):
        self.lab = lab
        self.procs = []

    def start(self, host, argv):
        proc = subprocess.Popen(
            self.lab.exec_argv(host, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=Lab.EXEC_ENV,
            start_new_session=True,  # nsenter forks into the host's PID namespace: kill the group
        )
        self.procs.append(proc)
        return proc

    def peer_server(self, host, port=PEER_PORT):
        proc = self.start(host, ["python3", "-c", PEER, str(port)])
        assert _readline(proc, "ready") == "ready"
        return proc

    def idle_client(self, host, **spec):
        """Start an ``IdleClient``; returns it once its connection carried its first line."""
        spec.setdefault("answer_within", 8)
        proc = self.start(host, ["python3", "-c", CLIENT, json.dumps(spec)])
        return IdleClient(proc, spec, json.loads(_readline(proc, "connection"))["connected"])

    def close(self):
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
        self.procs = []


class IdleClient:
    def __init__(self, proc, spec, local_port):
        self.proc, self.spec, self.local_port = proc, spec, local_port

    def result(self):
        """What the client saw after its idle (waits for it; bounded by the spec)."""
        budget = self.spec["idle"] + self.spec["answer_within"] + 30
        return json.loads(_readline(self.proc, "result", timeout=budget))


def haproxy(router, workdir, listen, peer, idle, port=PROXY_PORT, peer_port=PEER_PORT):
    """A real HAProxy in ``router``'s namespace, closing a connection idle for ``idle`` s
    (``timeout client``/``timeout server``), whatever TCP keepalive does."""
    config = HAPROXY % {
        "idle": idle,
        "listen": listen,
        "port": port,
        "peer": peer,
        "peer_port": peer_port,
    }
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    proc = router.popen(
        ["haproxy", "-db", "-f", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not _listening(router, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("haproxy did not start: %s" % proc.stderr.read())
        time.sleep(0.1)
    return proc


def _listening(router, port):
    out = subprocess.run(
        ["ip", "netns", "exec", router.netns, "ss", "-Hltn", "sport = :%d" % port],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return bool(out.strip())

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The path probe on the wire: the listener on the peer and one probe connection.

This module_util is private to the netstack.keepalive collection; it may change at any time.

A connection says one JSON line, ``{"token": T, "idle": S}``; the listener answers ``ok``,
then both ends stay silent (keepalive off, unless a verification asks for it) for ``S``
seconds and then both send: the prober ``H`` (the listener answers ``A``), the listener ``P``
a moment later. The prober calls the connection alive when it reads both ``P`` and ``A``;
an end of file is a ``fin``, ECONNRESET a ``reset``, nothing within ``answer_within`` (its
TCP_USER_TIMEOUT bounds the retransmissions too) a ``silent_drop``. ``{"token": T, "hello":
true}`` proves the listener is ours, ``{"token": T, "stop": true}`` ends it. A line without
the listener's token is refused, so only the prober that started it is served.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import select
import socket
import threading
import time

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._probe._plan import ALIVE

HELLO_ANSWER = b"netstack-keepalive-probe ok\n"
OK, FROM_PEER, FROM_HOST, ACK = b"ok\n", b"P\n", b"H\n", b"A\n"
PEER_LAG = 0.2  # s: the listener sends after the prober, so both sends follow the full idle
MAX_LINE = 1024
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def _line(sock, deadline):
    """One line from ``sock`` before ``deadline`` (monotonic); b"" at end of file."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no line in time")  # noqa: UP041 - not TimeoutError before 3.10
        sock.settimeout(remaining)
        chunk = sock.recv(1)
        if not chunk:
            return b""
        data += chunk
        if len(data) > MAX_LINE:
            raise ValueError("line too long")
    return data


def _send_json(sock, payload):
    sock.sendall(json.dumps(payload).encode() + b"\n")


def _keepalive(sock, values):
    """Keepalive off (the probe measures idleness), or the values under verification."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if values else 0)
    if values:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, values["time"])
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, values["intvl"])
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, values["probes"])


# ---------------------------------------------------------------------------------------------
# The prober's side


def connect(peer, port, token, timeout, payload):
    """A connection to the listener that sent its first line and got the listener's answer."""
    try:
        sock = socket.create_connection((peer, port), timeout=timeout)
    except OSError as exc:
        raise KeepaliveError(_connect_error(peer, port, exc), option="peer", value=peer)
    try:
        _send_json(sock, dict(payload, token=token))
        answer = _line(sock, time.monotonic() + timeout)
    except (OSError, ValueError) as exc:
        sock.close()
        raise KeepaliveError(_not_listener(peer, port, "no answer (%s)" % exc), option="port")
    expected = HELLO_ANSWER if payload.get("hello") else OK
    if answer != expected:
        sock.close()
        raise KeepaliveError(
            _not_listener(peer, port, "answered %r" % _text(answer)), option="port"
        )
    return sock


def _text(data):
    return data[:60].decode("utf-8", "replace").strip()


def _connect_error(peer, port, exc):
    if isinstance(exc, socket.timeout) or getattr(exc, "errno", None) in (
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
    ):
        return "peer=%s port=%d: unreachable (%s); check the address and the route" % (
            peer,
            port,
            exc,
        )
    if getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return (
            "peer=%s port=%d: connection refused: the listener is not running there (start "
            "it with role=listen on the peer) or a firewall rejects the port" % (peer, port)
        )
    return "peer=%s port=%d: cannot connect: %s" % (peer, port, exc)


def _not_listener(peer, port, what):
    return (
        "peer=%s port=%d: %s, not the answer of the probe listener: another service holds the "
        "port on the peer (choose a free port), or the listener has another token"
        % (peer, port, what)
    )


def hello(peer, port, token, timeout):
    """Prove the listener on ``peer:port`` is ours (before any measured connection)."""
    connect(peer, port, token, timeout, {"hello": True}).close()


def stop(peer, port, token, timeout):
    """Ask the listener to end now; False when it is already gone."""
    try:
        sock = socket.create_connection((peer, port), timeout=timeout)
    except OSError:
        return False
    try:
        _send_json(sock, {"token": token, "stop": True})
        return _line(sock, time.monotonic() + timeout) == OK
    except (OSError, ValueError):
        return False
    finally:
        sock.close()


class ProbeConnection:
    """One measured connection: opened by ``__init__``, judged by ``run``."""

    def __init__(self, peer, port, token, idle, answer_within, timeout, keepalive=None):
        self.idle, self.answer_within = idle, answer_within
        self.outcome, self.closed_after, self.elapsed = None, None, None
        self.sock = connect(peer, port, token, timeout, {"idle": idle})
        self.started = time.monotonic()
        _keepalive(self.sock, keepalive)
        self.sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, answer_within * 1000)

    def run(self, abort):
        """Stay idle, resume, set ``outcome``; ``abort`` (an Event) ends the wait early."""
        try:
            if self._idle(abort):
                self._resume()
        except OSError as exc:
            self._ended(_ending_of(exc))
        finally:
            self.close()
        return self

    def _idle(self, abort):
        """Watch the silent connection: a box may close it meanwhile (FIN or RST)."""
        end = self.started + self.idle
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return True
            if abort.is_set():
                self.outcome = "aborted"
                return False
            readable = select.select([self.sock], [], [], min(0.25, remaining))[0]
            if readable:
                data = self.sock.recv(16)
                self.closed_after = round(time.monotonic() - self.started, 3)
                self._ended("fin" if not data else "silent_drop")
                return False

    def _resume(self):
        self.sock.sendall(FROM_HOST)
        deadline = time.monotonic() + self.answer_within
        seen = set()
        try:
            while len(seen) < 2:
                line = _line(self.sock, deadline)
                if not line:
                    return self._ended("fin")
                seen.add(line)
        except socket.timeout:  # noqa: UP041 - our deadline; from Python 3.10 also ETIMEDOUT
            return self._ended("silent_drop")
        if seen == {FROM_PEER, ACK}:
            return self._ended(ALIVE)
        return self._ended("silent_drop")

    def _ended(self, outcome):
        self.outcome = outcome
        self.elapsed = round(time.monotonic() - self.started, 3)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def as_dict(self):
        result = {"idle": self.idle, "outcome": self.outcome, "elapsed": self.elapsed}
        if self.closed_after is not None:
            result["closed_after"] = self.closed_after
        return result


def _ending_of(exc):
    code = getattr(exc, "errno", None)
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return "reset"
    return "silent_drop"  # ETIMEDOUT (TCP_USER_TIMEOUT), or a timeout without errno


# ---------------------------------------------------------------------------------------------
# The listener's side


class Listener:
    """Serves probe connections on ``port`` until ``stop`` or ``listen_for`` seconds."""

    def __init__(self, bind_address, port, token, listen_for):
        self.token, self.deadline = token, time.monotonic() + listen_for
        self.stopped = threading.Event()
        self.served, self.refused = 0, 0
        self._lock = threading.Lock()
        self._conns = set()
        self.sock = socket.socket(socket.AF_INET6 if ":" in bind_address else socket.AF_INET)
        try:
            self.sock.bind((bind_address, port))
        except OSError as exc:
            self.sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise KeepaliveError(
                    "port=%d: already in use on this host (another service or a listener "
                    "left running): choose a free port" % port,
                    option="port",
                    value=port,
                )
            raise KeepaliveError(
                "bind_address=%s port=%d: cannot listen: %s" % (bind_address, port, exc),
                option="bind_address",
            )
        self.sock.listen(64)

    def serve(self):
        """Accept until stopped or the deadline; returns what was served."""
        try:
            while not self.stopped.is_set():
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    readable = select.select([self.sock], [], [], min(0.5, remaining))[0]
                    conn = self.sock.accept()[0] if readable else None
                except (OSError, ValueError):  # closed by close() from another thread
                    break
                if conn is not None:
                    worker = threading.Thread(target=self._serve_one, args=(conn,))
                    worker.daemon = True
                    worker.start()
        finally:
            self.close()
        return {"served": self.served, "refused": self.refused}

    def _serve_one(self, conn):
        with self._lock:
            self._conns.add(conn)
        try:
            header = json.loads(_line(conn, time.monotonic() + 10).decode() or "{}")
            if header.get("token") != self.token:
                self.refused += 1
                return
            if header.get("hello"):
                conn.sendall(HELLO_ANSWER)
            elif header.get("stop"):
                conn.sendall(OK)
                self.stopped.set()
            else:
                self._measured(conn, header)
        except (OSError, ValueError, AttributeError):
            pass  # the path killed the connection: that is what the prober measures
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _measured(self, conn, header):
        idle = header.get("idle")
        _keepalive(conn, header.get("keepalive"))
        conn.sendall(OK)
        self.served += 1
        if self.stopped.wait(max(0, float(idle)) + PEER_LAG):
            return
        conn.sendall(FROM_PEER)
        if _line(conn, time.monotonic() + 60) == FROM_HOST:
            conn.sendall(ACK)
        _line(conn, time.monotonic() + 10)  # the prober closes

    def close(self):
        self.stopped.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass
        self.sock.close()

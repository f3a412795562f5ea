"""Real clients that establish a server-side connection and then stay idle.

Each speaks just enough of the service's own protocol to prove the session is real (the
server accepted it and answered) and returns the open socket; the caller keeps it open for
the audit and closes it at teardown.
"""

from __future__ import annotations

import socket
import struct
import time

from ._launch import LOOPBACK, ServiceError

TIMEOUT = 10.0


def _connect(port: int, host: str = LOOPBACK) -> socket.socket:
    return socket.create_connection((host, port), timeout=TIMEOUT)


def _read_until(sock: socket.socket, marker: bytes, what: str) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ServiceError(f"{what}: connection closed before {marker!r}; got {data[:200]!r}")
        data += chunk
    return data


def redis_session(port: int, connect=_connect) -> tuple[socket.socket, str]:
    """RESP: ``CONFIG GET tcp-keepalive``; returns the socket and the server's own value.

    ``connect(port)`` opens the connection (a namespace's own connect for a redis there).
    """
    sock = connect(port)
    words = [b"CONFIG", b"GET", b"tcp-keepalive"]
    request = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)
    sock.sendall(request)
    reply = b""
    while reply.count(b"\r\n") < 5:  # *2, $13, tcp-keepalive, $N, value
        chunk = sock.recv(4096)
        if not chunk:
            raise ServiceError(f"redis closed the connection; got {reply!r}")
        reply += chunk
    value = reply.split(b"\r\n")[4].decode()
    return sock, value


def http_session(port: int, host: str = LOOPBACK) -> socket.socket:
    """One HTTP/1.1 keep-alive request; the connection stays open afterwards."""
    sock = _connect(port, host)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: audit.test\r\nConnection: keep-alive\r\n\r\n")
    reply = _read_until(sock, b"audit-ok\n", "nginx GET /")
    if not reply.startswith(b"HTTP/1.1 200"):
        raise ServiceError(f"nginx answered {reply[:80]!r}")
    return sock


def _pg_message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def _pg_read(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _recv_exact(sock, 5)
    (length,) = struct.unpack("!I", head[1:])
    return head[:1], _recv_exact(sock, length - 4)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ServiceError("postgres closed the connection")
        data += chunk
    return data


def _pg_until_ready(sock: socket.socket) -> list[tuple[bytes, bytes]]:
    messages = []
    while True:
        kind, body = _pg_read(sock)
        if kind == b"E":
            sock.close()
            error = PostgresStartingUp if b"C57P03\0" in body else ServiceError
            raise error(f"postgres error: {body!r}")
        messages.append((kind, body))
        if kind == b"Z":
            return messages


class PostgresStartingUp(ServiceError):
    """SQLSTATE 57P03: the port is open but the server does not accept sessions yet."""


def postgres_session(port: int, user: str = "postgres") -> tuple[socket.socket, dict[str, str]]:
    """Protocol 3.0 start-up (trust auth) and ``SHOW tcp_keepalives_*`` on that connection.

    PostgreSQL answers SHOW for these settings by reading the socket's own options, so the
    values returned are what the server applied to this very connection.
    """
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return _postgres_session(port, user)
        except PostgresStartingUp:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _postgres_session(port: int, user: str) -> tuple[socket.socket, dict[str, str]]:
    sock = _connect(port)
    params = b"user\0%s\0database\0postgres\0\0" % user.encode()
    body = struct.pack("!I", 196608) + params
    sock.sendall(struct.pack("!I", len(body) + 4) + body)
    _pg_until_ready(sock)
    shown = {}
    for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count"):
        sock.sendall(_pg_message(b"Q", b"SHOW %s\0" % name.encode()))
        for kind, body in _pg_until_ready(sock):
            if kind == b"D":  # DataRow: int16 columns, int32 length, value
                (size,) = struct.unpack("!i", body[2:6])
                shown[name] = body[6 : 6 + size].decode()
    return sock, shown


def raw_session(port: int) -> socket.socket:
    """A bare TCP connection (the plain server speaks no protocol)."""
    return _connect(port)

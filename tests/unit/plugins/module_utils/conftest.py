"""Fixtures shared by the module_utils tests: real processes holding real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

# A child that opens one listener and connections with the options it is given, prints
# {name: inode} and holds them until its stdin closes.
HOLDER = r"""
import json, os, socket, sys
specs = json.loads(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
held = {"listener": listener}
for name, opts in specs.items():
    client = socket.socket()
    if opts.get("keepalive"):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for key, opt in (("idle", socket.TCP_KEEPIDLE), ("intvl", socket.TCP_KEEPINTVL),
                     ("cnt", socket.TCP_KEEPCNT)):
        if key in opts:
            client.setsockopt(socket.IPPROTO_TCP, opt, opts[key])
    if "user_timeout" in opts:  # milliseconds
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, opts["user_timeout"])
    client.connect(listener.getsockname())
    held[name] = client
    held[name + "-peer"] = listener.accept()[0]
print(json.dumps({k: os.fstat(s.fileno()).st_ino for k, s in held.items()}), flush=True)
sys.stdin.read()
"""

SPECS = {
    "off": {},
    "defaults": {"keepalive": True},
    "app": {"keepalive": True, "idle": 600, "intvl": 30, "cnt": 4},
    "idle-only": {"keepalive": True, "idle": 45},
    "values-without-keepalive": {"idle": 100},
    "user-timeout": {"user_timeout": 5000},
    "keepalive-user-timeout": {"keepalive": True, "idle": 60, "user_timeout": 2500},
}


@pytest.fixture(scope="module")
def holder():
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps(SPECS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        inodes = json.loads(proc.stdout.readline())
        yield proc.pid, inodes
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


@pytest.fixture()
def shared_listener():
    """A listener with SO_KEEPALIVE held by us and by a child: ``(inode, our pid, its pid)``."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=(listener.fileno(),),
    )
    try:
        yield os.fstat(listener.fileno()).st_ino, os.getpid(), child.pid
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        listener.close()

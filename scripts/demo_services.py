"""Services for `make demo`, started inside a lab host (standard library only).

--redis PORT:IDLE  a real redis-server on 127.0.0.1:PORT with `tcp-keepalive IDLE`, which sets
                   SO_KEEPALIVE (and its own idle) on every client connection;
--legacy PORT      "legacy-app": a TCP server that never sets SO_KEEPALIVE, like many do;
and "demo-client", which opens two idle connections to each and holds them. Detaches at once
and lives until the host goes down.
"""

import argparse
import os
import socket
import subprocess
import sys
import time


def set_comm(name):
    # The audit attributes sockets to the process name (comm) when there is no unit.
    with open("/proc/self/comm", "w") as handle:
        handle.write(name)


def fork_into(name, func, *args):
    if os.fork() == 0:
        os.setsid()
        set_comm(name)
        try:
            func(*args)
        finally:
            os._exit(0)


def legacy_server(port):
    server = socket.create_server(("127.0.0.1", port))
    held = []
    while True:
        conn, _peer = server.accept()
        held.append(conn)  # accepted, no SO_KEEPALIVE: idle forever as far as the kernel knows


def client(targets):
    held = []
    for port in targets:
        for _copy in range(2):
            for _attempt in range(100):
                try:
                    held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                    break
                except OSError:
                    time.sleep(0.05)
    while True:
        time.sleep(3600)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", help="PORT:IDLE")
    parser.add_argument("--legacy", type=int)
    args = parser.parse_args()
    # Detach from the caller's pipes, or whoever started us would wait for our children.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    targets = []
    if args.redis:
        port, idle = args.redis.split(":")
        subprocess.Popen(
            ["redis-server", "--port", port, "--bind", "127.0.0.1", "--tcp-keepalive", idle,
             "--save", "", "--appendonly", "no", "--dir", "/tmp", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        targets.append(int(port))
    if args.legacy:
        fork_into("legacy-app", legacy_server, args.legacy)
        targets.append(args.legacy)
    fork_into("demo-client", client, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())

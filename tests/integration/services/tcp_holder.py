"""A plain TCP server that accepts connections and holds them open, idle.

Run as a script (``python3 tcp_holder.py PORT [--keepalive]``). Without ``--keepalive`` it never
touches SO_KEEPALIVE: the control case of the audit. With it, only SO_KEEPALIVE is set on the
listener (no TCP_KEEP* values), so accepted connections inherit it and run on the sysctls of
the network namespace the process lives in.
"""

from __future__ import annotations

import argparse
import socket


def serve(port: int, keepalive: bool, address: str) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if keepalive:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    listener.bind((address, port))
    listener.listen(16)
    held = []  # accepted sockets stay referenced, so they stay open
    while True:
        conn, _peer = listener.accept()
        held.append(conn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--keepalive", action="store_true")
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args()
    serve(args.port, args.keepalive, args.address)


if __name__ == "__main__":
    main()

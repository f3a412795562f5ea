# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dump TCP sockets with netlink inet_diag (NETLINK_SOCK_DIAG), standard library only.

This module_util is private to the netstack.keepalive collection; it may change at any time.

One SOCK_DIAG_BY_FAMILY dump per address family; the kernel applies the state filter, so
only the sockets asked for cross into user space. A netlink socket belongs to the network
namespace it was created in: call ``dump_tcp`` inside ``run_in_netns`` to see another
namespace's sockets.

Each socket comes back as a plain tuple (see ``SOCKET_FIELDS``) because a busy host has
100,000 of them; addresses stay as the raw 48-byte ``inet_diag_sockid`` until someone asks
for them (``endpoints``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import struct

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
INET_DIAG_CGROUP_ID = 21  # u64, cgroup v2 id of the creator; sent unasked since Linux 5.7

# include/net/tcp_states.h, lower case as the module's options and output use them.
TCP_STATES = (
    None,
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
    "new_syn_recv",
)
STATE_NUMBERS = dict((name, number) for number, name in enumerate(TCP_STATES) if name)

# idiag_timer values (net/ipv4/inet_diag.c).
TIMER_NONE, TIMER_RETRANSMIT, TIMER_KEEPALIVE, TIMER_TIME_WAIT, TIMER_PERSIST = range(5)

# Fields of one socket tuple, in order.
SOCKET_FIELDS = (
    "family",
    "state",
    "timer",
    "retrans",
    "sockid",
    "expires_ms",
    "uid",
    "inode",
    "cgroup_id",
)

# nlmsghdr (len, type, 10 bytes we skip) + inet_diag_msg without rqueue/wqueue.
_MSG = struct.Struct("=IH10xBBBB48sI8xII")
_REQUEST = struct.Struct("=IHHIIBBBBI48s")
_ATTR = struct.Struct("=HH")
_U64 = struct.Struct("=Q")
_ERRNO = struct.Struct("=i")
_NLMSG_LEN_TYPE = struct.Struct("=IH")
_CGROUP_TAIL = struct.Struct("=HHQ")  # rtattr header + u64, when it is the last attribute
_CGROUP_THEN_SOCKOPT = struct.Struct("=HHQH2x")  # ... followed by one short attribute
_UNIFORM = {}  # message length -> Struct of _uniform_struct
_RECV_BUFFER = 1 << 20  # one recv returns at most one 32 KiB skb; a large buffer costs nothing
_SOCKET_RCVBUF = 8 << 20


def state_mask(states):
    """Bit mask for idiag_states from state names (``established``, ``listen``, ...)."""
    mask = 0
    for name in states:
        try:
            mask |= 1 << STATE_NUMBERS[name]
        except KeyError:
            raise KeepaliveError(
                "states=%r: unknown TCP state %r (allowed: %s)"
                % (list(states), name, ", ".join(sorted(STATE_NUMBERS))),
                option="states",
            )
    return mask


def build_request(family, states_mask, seq=1):
    """The SOCK_DIAG_BY_FAMILY dump request for one address family (bytes)."""
    # struct nlmsghdr: length, type, flags, sequence, port id
    header = (_REQUEST.size, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    # struct inet_diag_req_v2: family, protocol, ext, pad, states, and an all-zero
    # inet_diag_sockid (any socket)
    request = (family, socket.IPPROTO_TCP, 0, 0, states_mask, b"\0" * 48)
    return _REQUEST.pack(*(header + request))


def _cgroup_id(view, start, end):
    """INET_DIAG_CGROUP_ID among the attributes in ``view[start:end]``, or 0 if none."""
    while start + 4 <= end:
        length, kind = _ATTR.unpack_from(view, start)
        if length < 4:
            break
        if kind == INET_DIAG_CGROUP_ID and length >= 12:
            return _U64.unpack_from(view, start + 4)[0]
        start += (length + 3) & ~3
    return 0


def _uniform_struct(view, size):
    """The Struct that reads every message of ``view`` straight into socket tuples, or None.

    A dump chunk is usually nothing but inet_diag messages of one length whose attributes
    end with the cgroup id and one short attribute (Linux >= 5.10). Strided slices check the
    length, type and attribute headers of every message at C speed; then one ``iter_unpack``
    yields the tuples without a Python step per socket.
    """
    length = _NLMSG_LEN_TYPE.unpack_from(view, 0)[0]
    if length % 4 or length < _MSG.size + 20 or size % length:
        return None
    layout = _UNIFORM.get(length)
    if layout is None:
        layout = _UNIFORM[length] = _uniform_layout(length)
    fast, checks = layout
    count = size // length
    for offset, expected in checks:
        if view[offset::length] != expected * count:
            return None
    last_len_at = length - 8  # the short attribute after the cgroup id ends the message
    last_len = view[last_len_at]
    if not 4 <= last_len <= 8 or view[last_len_at::length] != bytes((last_len,)) * count:
        return None
    return fast


def _uniform_layout(length):
    """Struct for messages of ``length`` + the (offset, byte) pairs each message must have."""
    fast = struct.Struct("=16xBBBB48sI8xII%dxQ8x" % (length - _MSG.size - 16))
    expected = _NLMSG_LEN_TYPE.pack(length, SOCK_DIAG_BY_FAMILY)  # nlmsg_len, nlmsg_type
    expected += _ATTR.pack(12, INET_DIAG_CGROUP_ID) + b"\0"  # cgroup id header, last_len < 256
    offsets = list(range(6)) + [length - 20 + index for index in range(4)] + [length - 7]
    return fast, [(offset, bytes((expected[index],))) for index, offset in enumerate(offsets)]


def parse_messages(data, sockets):
    """Append one tuple per inet_diag message in ``data`` to ``sockets``.

    Returns True when the dump is finished (NLMSG_DONE). Raises KeepaliveError on an
    NLMSG_ERROR reply.
    """
    view = memoryview(data).cast("B")
    size = len(view)
    if size >= _MSG.size:
        fast = _uniform_struct(view, size)
        if fast is not None:
            sockets.extend(fast.iter_unpack(view))
            return False
    offset = 0
    header = _NLMSG_LEN_TYPE.unpack_from
    unpack = _MSG.unpack_from
    tail = _CGROUP_TAIL.unpack_from
    tail_with_sockopt = _CGROUP_THEN_SOCKOPT.unpack_from
    append = sockets.append
    msg_size = _MSG.size
    while offset + 16 <= size:
        length, kind = header(view, offset)
        if length < 16 or offset + length > size:
            raise KeepaliveError("netlink: truncated message (length %d at %d)" % (length, offset))
        if kind == SOCK_DIAG_BY_FAMILY and length >= msg_size:
            end = offset + length
            # With no extensions requested the kernel sends the cgroup id last but for
            # INET_DIAG_SOCKOPT (Linux >= 5.10: 8 bytes) or last (5.7-5.9): one unpack finds
            # it in the usual layouts; otherwise walk the attributes.
            cgroup_id = None
            if length >= msg_size + 20:
                attr_len, attr_kind, value, next_len = tail_with_sockopt(view, end - 20)
                if attr_len == 12 and attr_kind == INET_DIAG_CGROUP_ID and 4 <= next_len <= 8:
                    cgroup_id = value
            if cgroup_id is None and length >= msg_size + 12:
                attr_len, attr_kind, value = tail(view, end - 12)
                if attr_len == 12 and attr_kind == INET_DIAG_CGROUP_ID:
                    cgroup_id = value
            if cgroup_id is None:
                cgroup_id = _cgroup_id(view, offset + msg_size, end)
            append(unpack(view, offset)[2:] + (cgroup_id,))
        elif kind == NLMSG_DONE:
            return True
        elif kind == NLMSG_ERROR:
            code = -_ERRNO.unpack_from(view, offset + 16)[0]
            if code != 0:
                raise KeepaliveError(
                    "netlink inet_diag dump refused: %s (errno %d)" % (os.strerror(code), code)
                )
        offset += (length + 3) & ~3
    return False


def _dump_family(sock, family, mask, buffer, sockets):
    sock.send(build_request(family, mask))
    while True:
        received = sock.recv_into(buffer)
        if received == 0:
            return
        if parse_messages(memoryview(buffer)[:received], sockets):
            return


def dump_tcp(states, families=(socket.AF_INET, socket.AF_INET6)):
    """All TCP sockets in ``states`` of the calling thread's network namespace (tuples)."""
    mask = state_mask(states)
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    except OSError as exc:
        raise KeepaliveError(
            "netlink inet_diag not available: %s (needs Linux with CONFIG_INET_DIAG)" % exc.strerror
        )
    sockets = []
    buffer = bytearray(_RECV_BUFFER)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_RCVBUF)
        except OSError:
            pass  # only a speed-up
        sock.bind((0, 0))
        for family in families:
            try:
                _dump_family(sock, family, mask, buffer, sockets)
            except KeepaliveError:
                if family == socket.AF_INET6 and not os.path.exists("/proc/net/if_inet6"):
                    continue  # kernel without IPv6: nothing to dump, not an error
                raise
    except OSError as exc:
        if exc.errno == errno.EPERM:
            raise KeepaliveError("netlink inet_diag dump refused: %s" % exc.strerror)
        raise KeepaliveError("netlink inet_diag dump failed: %s" % exc.strerror)
    finally:
        sock.close()
    return sockets


def endpoints(family, sockid):
    """``("addr:port", "addr:port")`` local and remote from a raw inet_diag_sockid."""
    sport, dport = struct.unpack_from("!HH", sockid, 0)
    if family == socket.AF_INET:
        src = socket.inet_ntop(family, sockid[4:8])
        dst = socket.inet_ntop(family, sockid[20:24])
        return "%s:%d" % (src, sport), "%s:%d" % (dst, dport)
    src = socket.inet_ntop(family, sockid[4:20])
    dst = socket.inet_ntop(family, sockid[20:36])
    return "[%s]:%d" % (src, sport), "[%s]:%d" % (dst, dport)


_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
_V6_LOOPBACK = b"\x00" * 15 + b"\x01"


def loopback_peer(family, sockid):
    """Whether the remote end is a loopback address (127/8, ::1, ::ffff:127/104).

    Such a connection never leaves the host, so no middlebox on the path can forget it.
    """
    if family == socket.AF_INET:
        return sockid[20] == 127
    remote = sockid[20:36]
    return remote == _V6_LOOPBACK or (remote[:12] == _V4_MAPPED and remote[12] == 127)


def ports(sockid):
    """``(local_port, remote_port)`` from a raw inet_diag_sockid."""
    return struct.unpack_from("!HH", sockid, 0)

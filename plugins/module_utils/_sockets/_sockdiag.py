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

The dump asks for ``INET_DIAG_INFO`` (``struct tcp_info``) and keeps four of its fields: the
consecutive retransmission timeouts, unanswered probes, backoff and unacknowledged segments
of the moment, which tell a connection that is waiting for its peer right now.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import operator
import os
import socket
import struct
from itertools import repeat

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
INET_DIAG_INFO = 2  # struct tcp_info, sent when bit INET_DIAG_INFO - 1 of idiag_ext is set
INET_DIAG_CGROUP_ID = 21  # u64, cgroup v2 id of the creator; sent unasked since Linux 5.7
INFO_EXTENSION = 1 << (INET_DIAG_INFO - 1)
# Whether dump_tcp asks for tcp_info; the benchmark turns it off to measure what it costs.
# Off, the four tcp_info fields of every socket are None.
REQUEST_INFO = True

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
    "retransmits",  # tcp_info, None when the kernel sent none (time_wait, new_syn_recv):
    "probes",  # ... tcpi_probes: unanswered keepalive or zero-window probes
    "backoff",  # ... tcpi_backoff: exponent of the retransmission / probe timer
    "unacked",  # ... tcpi_unacked: segments in flight (a listener: its accept queue)
)
TCP_INFO_FIELDS = SOCKET_FIELDS[-4:]

# nlmsghdr (len, type, 10 bytes we skip) + inet_diag_msg without rqueue/wqueue.
_MSG = struct.Struct("=IH10xBBBB48sI8xII")
_REQUEST = struct.Struct("=IHHIIBBBBI48s")
_ATTR = struct.Struct("=HH")
_U64 = struct.Struct("=Q")
_ERRNO = struct.Struct("=i")
_NLMSG_LEN_TYPE = struct.Struct("=IH")
# struct tcp_info (include/uapi/linux/tcp.h): u8 state, ca_state, retransmits, probes,
# backoff, options, two u8 of bit fields, then u32 rto, ato, snd_mss, rcv_mss, unacked, ...
_TCP_INFO = struct.Struct("=2xBBB19xI")  # retransmits, probes, backoff, unacked
_TCP_INFO_FORMAT = "2xBBB19xI"
_NO_INFO = (None,) * len(TCP_INFO_FIELDS)
_UNIFORM = {}  # (message length, tcp_info attribute length) -> Struct of _uniform_struct
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


def build_request(family, states_mask, seq=1, ext=0):
    """The SOCK_DIAG_BY_FAMILY dump request for one address family (bytes); ``ext`` is the
    idiag_ext bit mask of the attributes asked for (``INFO_EXTENSION``)."""
    # struct nlmsghdr: length, type, flags, sequence, port id
    header = (_REQUEST.size, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    # struct inet_diag_req_v2: family, protocol, ext, pad, states, and an all-zero
    # inet_diag_sockid (any socket)
    request = (family, socket.IPPROTO_TCP, ext, 0, states_mask, b"\0" * 48)
    return _REQUEST.pack(*(header + request))


def _attributes(view, start, end):
    """``(cgroup id or 0, tcp_info fields or _NO_INFO)`` from the attributes in
    ``view[start:end]``."""
    cgroup_id = 0
    info = _NO_INFO
    while start + 4 <= end:
        length, kind = _ATTR.unpack_from(view, start)
        if length < 4 or start + length > end:
            break
        if kind == INET_DIAG_CGROUP_ID and length >= 12:
            cgroup_id = _U64.unpack_from(view, start + 4)[0]
        elif kind == INET_DIAG_INFO and length >= 4 + _TCP_INFO.size:
            info = _TCP_INFO.unpack_from(view, start + 4)
        start += (length + 3) & ~3
    return cgroup_id, info


def _info_position(view, length):
    """``(offset, length)`` of the first message's INET_DIAG_INFO attribute, ``(0, 0)`` when
    it has none.

    The kernel puts tcp_info after the cgroup id and INET_DIAG_SOCKOPT, last but for the
    congestion control's own attribute (BBR, DCTCP, Vegas; not CUBIC); its size is the
    kernel's ``sizeof(struct tcp_info)``, the same for every socket that has one.
    """
    start = _MSG.size
    while start + 4 <= length:
        attr_len, kind = _ATTR.unpack_from(view, start)
        if attr_len < 4 or start + attr_len > length:
            return 0, 0
        if kind == INET_DIAG_INFO:
            return (start, attr_len) if attr_len >= 4 + _TCP_INFO.size else (0, 0)
        start += (attr_len + 3) & ~3
    return 0, 0


def _uniform_struct(view, size):
    """``(Struct, has tcp_info)`` that reads every message of ``view`` straight into socket
    tuples, or None.

    A dump chunk is usually nothing but inet_diag messages of one length whose attributes
    have the cgroup id and one short attribute (Linux >= 5.10) last, or just before
    tcp_info when it was asked for. Strided slices check the length, type and attribute
    headers of every message at C speed; then one ``iter_unpack`` yields the tuples without a
    Python step per socket.
    """
    length = _NLMSG_LEN_TYPE.unpack_from(view, 0)[0]
    if length % 4 or length < _MSG.size + 20 or size % length or length > size:
        return None
    key = (length,) + _info_position(view, length)
    if key not in _UNIFORM:
        _UNIFORM[key] = _uniform_layout(*key)
    layout = _UNIFORM[key]
    if layout is None:
        return None
    fast, checks, last_len_at = layout
    count = size // length
    for offset, expected in checks:
        if view[offset::length] != expected * count:
            return None
    last_len = view[last_len_at]  # the short attribute after the cgroup id
    if not 4 <= last_len <= 8 or view[last_len_at::length] != bytes((last_len,)) * count:
        return None
    return fast, key[2] != 0


def _uniform_layout(length, info_at, info_len):
    """Struct for messages of ``length`` with a tcp_info attribute of ``info_len`` at
    ``info_at`` (0, 0: none; else the cgroup id and the short attribute are just before it,
    and what follows it is skipped), the (offset, byte) pairs each message must have, and
    the offset of the short attribute's length."""
    cgroup_at = (info_at if info_len else length) - 20
    if cgroup_at < _MSG.size:
        return None  # tcp_info too early for the cgroup id before it: walk such chunks
    fmt = "=16xBBBB48sI8xII%dxQ8x" % (cgroup_at + 4 - _MSG.size)
    expected = _NLMSG_LEN_TYPE.pack(length, SOCK_DIAG_BY_FAMILY)  # nlmsg_len, nlmsg_type
    expected += _ATTR.pack(12, INET_DIAG_CGROUP_ID) + b"\0"  # cgroup id header, last_len < 256
    offsets = list(range(6)) + [cgroup_at + index for index in range(4)] + [cgroup_at + 13]
    if info_len:
        fmt += "4x%s%dx" % (_TCP_INFO_FORMAT, length - info_at - 4 - _TCP_INFO.size)
        expected += _ATTR.pack(info_len, INET_DIAG_INFO)
        offsets += [info_at + index for index in range(4)]
    checks = [(offset, bytes((expected[index],))) for index, offset in enumerate(offsets)]
    return struct.Struct(fmt), checks, cgroup_at + 12


def parse_messages(data, sockets):
    """Append one tuple per inet_diag message in ``data`` to ``sockets``.

    Returns True when the dump is finished (NLMSG_DONE). Raises KeepaliveError on an
    NLMSG_ERROR reply.
    """
    view = memoryview(data).cast("B")
    size = len(view)
    if size >= _MSG.size:
        uniform = _uniform_struct(view, size)
        if uniform is not None:
            fast, has_info = uniform
            if has_info:
                sockets.extend(fast.iter_unpack(view))
            else:  # the same tuples, tcp_info None: one C-level add per socket
                sockets.extend(map(operator.add, fast.iter_unpack(view), repeat(_NO_INFO)))
            return False
    offset = 0
    header = _NLMSG_LEN_TYPE.unpack_from
    unpack = _MSG.unpack_from
    attributes = _attributes
    append = sockets.append
    msg_size = _MSG.size
    while offset + 16 <= size:
        length, kind = header(view, offset)
        if length < 16 or offset + length > size:
            raise KeepaliveError("netlink: truncated message (length %d at %d)" % (length, offset))
        if kind == SOCK_DIAG_BY_FAMILY and length >= msg_size:
            cgroup_id, info = attributes(view, offset + msg_size, offset + length)
            append(unpack(view, offset)[2:] + (cgroup_id,) + info)
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
    sock.send(build_request(family, mask, ext=INFO_EXTENSION if REQUEST_INFO else 0))
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

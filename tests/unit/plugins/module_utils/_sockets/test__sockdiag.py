"""inet_diag parsing from captured-shape netlink bytes, and live dumps of our own sockets."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import uuid

import pytest
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _sockdiag as sd
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._netns import run_in_netns


def sockid(family, sport, dport, src, dst):
    """The 48-byte inet_diag_sockid as the kernel sends it (ports and addresses big endian)."""
    raw_src = socket.inet_pton(family, src).ljust(16, b"\0")
    raw_dst = socket.inet_pton(family, dst).ljust(16, b"\0")
    return struct.pack("!HH", sport, dport) + raw_src + raw_dst + struct.pack("=IQ", 0, 1234)


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def diag_message(family, state, timer, retrans, sid, expires, uid, inode, attrs=b""):
    body = struct.pack("=BBBB", family, state, timer, retrans) + sid
    body += struct.pack("=IIIII", expires, 0, 0, uid, inode) + attrs
    return struct.pack("=IHHII", 16 + len(body), sd.SOCK_DIAG_BY_FAMILY, 2, 1, 0) + body


def done_message():
    return struct.pack("=IHHIIi", 20, sd.NLMSG_DONE, 2, 1, 0, 0)


def error_message(code):
    return struct.pack("=IHHIIi", 36, sd.NLMSG_ERROR, 0, 1, 0, -code) + b"\0" * 16


V4 = sockid(socket.AF_INET, 6379, 40000, "127.0.0.1", "127.0.0.2")
V6 = sockid(socket.AF_INET6, 22, 0, "::1", "::")
SHUTDOWN = attr(8, b"\0")  # INET_DIAG_SHUTDOWN, u8
CGROUP = attr(sd.INET_DIAG_CGROUP_ID, struct.pack("=Q", 4242))
CLASS_ID = attr(15, struct.pack("=I", 0))
SOCKOPT = attr(22, b"\0\0")  # INET_DIAG_SOCKOPT, u16: what Linux >= 5.10 sends last
MARK_AND_MORE = attr(15, b"\0" * 8)  # a longer attribute after the cgroup id: walk
LINUX_6 = SHUTDOWN + CLASS_ID + CGROUP + SOCKOPT
NO_INFO = (None, None, None, None)


def tcp_info(retransmits, probes, backoff, unacked, size=280):
    """A struct tcp_info as include/uapi/linux/tcp.h lays it out: eight u8 (state, ca_state,
    retransmits, probes, backoff, options, two of bit fields), then u32 rto, ato, snd_mss,
    rcv_mss, unacked, sacked, ...; ``size`` is the kernel's sizeof (280 on Linux 6.18, 104
    on 3.x). Every other byte is filled with 0xee, so a field read at a wrong offset shows."""
    head = struct.pack("=8B", 1, 4, retransmits, probes, backoff, 7, 0x77, 0xEE)
    head += struct.pack("=4I", 204000, 40000, 1448, 536)
    head += struct.pack("=I", unacked)
    return head + b"\xee" * (size - len(head))


def info(retransmits, probes, backoff, unacked, size=280):
    return attr(sd.INET_DIAG_INFO, tcp_info(retransmits, probes, backoff, unacked, size))


CONG = attr(4, b"cubic\0\0\0")  # INET_DIAG_CONG (asked for separately), 8 bytes
BBR_INFO = attr(16, b"\0" * 8)  # INET_DIAG_BBRINFO (longer in truth), as long as CONG here


@pytest.mark.parametrize(
    "data, expected, finished",
    [
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 299000, 0, 111, SHUTDOWN + CGROUP),
            [(2, 1, 2, 0, V4, 299000, 0, 111, 4242)],
            False,
            id="v4-established-keepalive-timer-cgroup-last",
        ),
        pytest.param(
            diag_message(10, 10, 0, 0, V6, 0, 105, 222, CGROUP + SHUTDOWN),
            [(10, 10, 0, 0, V6, 0, 105, 222, 4242)],
            False,
            id="v6-listen-cgroup-not-last",
        ),
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 5, 0, 444, SHUTDOWN + CLASS_ID + CGROUP + SOCKOPT),
            [(2, 1, 2, 0, V4, 5, 0, 444, 4242)],
            False,
            id="linux-6-layout-cgroup-then-sockopt",
        ),
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 5, 0, 555, SHUTDOWN + CGROUP + MARK_AND_MORE),
            [(2, 1, 2, 0, V4, 5, 0, 555, 4242)],
            False,
            id="unknown-layout-walks-attributes",
        ),
        pytest.param(
            diag_message(2, 1, 1, 3, V4, 200, 0, 333, SHUTDOWN),
            [(2, 1, 1, 3, V4, 200, 0, 333, 0)],
            False,
            id="old-kernel-without-cgroup-id",
        ),
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 1, 0, 1, CGROUP)
            + diag_message(2, 10, 0, 0, V4, 0, 0, 2, CGROUP)
            + done_message(),
            [(2, 1, 2, 0, V4, 1, 0, 1, 4242), (2, 10, 0, 0, V4, 0, 0, 2, 4242)],
            True,
            id="two-messages-then-done",
        ),
        pytest.param(error_message(0) + done_message(), [], True, id="ack-then-done"),
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 5, 0, 1, LINUX_6)
            + diag_message(10, 10, 0, 0, V6, 0, 105, 2, LINUX_6)
            + diag_message(2, 1, 0, 0, V4, 0, 7, 3, LINUX_6),
            [
                (2, 1, 2, 0, V4, 5, 0, 1, 4242),
                (10, 10, 0, 0, V6, 0, 105, 2, 4242),
                (2, 1, 0, 0, V4, 0, 7, 3, 4242),
            ],
            False,
            id="uniform-chunk-read-in-one-iter-unpack",
        ),
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 5, 0, 1, SHUTDOWN + CGROUP + SOCKOPT)
            + diag_message(2, 1, 2, 0, V4, 5, 0, 2, SHUTDOWN + SOCKOPT + CGROUP),
            [(2, 1, 2, 0, V4, 5, 0, 1, 4242), (2, 1, 2, 0, V4, 5, 0, 2, 4242)],
            False,
            id="same-lengths-other-layout-in-one-message-walks",
        ),
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 5, 0, 1, SHUTDOWN + CLASS_ID + MARK_AND_MORE) * 2,
            [(2, 1, 2, 0, V4, 5, 0, 1, 0)] * 2,
            False,
            id="same-lengths-without-cgroup-id-walks",
        ),
        pytest.param(
            diag_message(2, 1, 2, 0, V4, 5, 0, 1, LINUX_6) + done_message(),
            [(2, 1, 2, 0, V4, 5, 0, 1, 4242)],
            True,
            id="last-chunk-with-done",
        ),
    ],
)
def test_parse_messages(data, expected, finished):
    sockets = []
    assert sd.parse_messages(bytearray(data), sockets) is finished
    assert sockets == [entry + NO_INFO for entry in expected]  # tcp_info not sent: None


STUCK = (2, 1, 1, 3, V4, 800, 0, 1, 4242)  # retransmit timer, 3 retransmissions (idiag)
IDLE = (2, 1, 2, 0, V4, 5, 0, 2, 4242)
LISTENING = (10, 10, 0, 0, V6, 0, 105, 3, 4242)


@pytest.mark.parametrize(
    "data, expected, uniform",
    [
        pytest.param(
            diag_message(*STUCK[:8], attrs=LINUX_6 + info(3, 0, 3, 5)),
            [STUCK + (3, 0, 3, 5)],
            True,
            id="one-message-with-tcp-info",
        ),
        pytest.param(
            diag_message(*STUCK[:8], attrs=LINUX_6 + info(3, 0, 3, 5))
            + diag_message(*IDLE[:8], attrs=LINUX_6 + info(0, 2, 0, 0))
            + diag_message(*LISTENING[:8], attrs=LINUX_6 + info(0, 0, 0, 17)),
            [STUCK + (3, 0, 3, 5), IDLE + (0, 2, 0, 0), LISTENING + (0, 0, 0, 17)],
            True,
            id="uniform-chunk-with-tcp-info-in-one-iter-unpack",
        ),
        pytest.param(
            (diag_message(*STUCK[:8], attrs=LINUX_6 + info(255, 9, 15, 70000, size=104))) * 2,
            [STUCK + (255, 9, 15, 70000)] * 2,
            True,
            id="older-kernel-shorter-tcp-info",
        ),
        pytest.param(
            (diag_message(*STUCK[:8], attrs=LINUX_6 + info(1, 0, 1, 2) + BBR_INFO)) * 2,
            [STUCK + (1, 0, 1, 2)] * 2,
            True,
            id="tcp-info-then-the-congestion-controls-attribute",
        ),
        pytest.param(
            diag_message(*STUCK[:8], attrs=LINUX_6 + info(1, 0, 1, 2) + CONG)
            + diag_message(*IDLE[:8], attrs=LINUX_6 + info(0, 1, 0, 0) + BBR_INFO),
            [STUCK + (1, 0, 1, 2), IDLE + (0, 1, 0, 0)],
            True,  # same lengths, other attributes after tcp_info: skipped, fields in place
            id="tcp-info-then-other-attributes",
        ),
        pytest.param(
            diag_message(*STUCK[:8], attrs=LINUX_6 + info(1, 0, 1, 2))
            + diag_message(*IDLE[:8], attrs=LINUX_6 + attr(15, b"\0" * 280)),
            [STUCK + (1, 0, 1, 2), IDLE + NO_INFO],
            False,
            id="same-lengths-one-without-tcp-info-walks",
        ),
        pytest.param(
            diag_message(*STUCK[:8], attrs=SHUTDOWN + info(4, 0, 4, 1) + CGROUP),
            [STUCK + (4, 0, 4, 1)],
            False,
            id="tcp-info-before-cgroup-walks",
        ),
        pytest.param(
            diag_message(*IDLE[:8], attrs=LINUX_6 + info(0, 0, 0, 0))
            + diag_message(6, 6, 3, 0, V4, 60000, 0, 0, SHUTDOWN + CGROUP)  # time_wait
            + done_message(),
            [IDLE + (0, 0, 0, 0), (6, 6, 3, 0, V4, 60000, 0, 0, 4242) + NO_INFO],
            False,
            id="time-wait-without-tcp-info-then-done",
        ),
        pytest.param(
            diag_message(*IDLE[:8], attrs=LINUX_6 + attr(sd.INET_DIAG_INFO, b"\1" * 20)),
            [IDLE + NO_INFO],
            False,  # too short for the four fields: not a layout the fast path knows
            id="tcp-info-too-short-is-none",
        ),
    ],
)
def test_parse_messages_with_tcp_info(data, expected, uniform):
    view = memoryview(bytearray(data))
    assert (sd._uniform_struct(view, len(view)) is not None) is uniform
    sockets = []
    sd.parse_messages(bytearray(data), sockets)
    assert sockets == expected
    assert len(sd.SOCKET_FIELDS) == len(expected[0])


@pytest.mark.parametrize(
    "data, message",
    [
        (error_message(1), "refused: Operation not permitted"),
        (diag_message(2, 1, 0, 0, V4, 0, 0, 1)[:-4], "truncated"),
    ],
)
def test_parse_messages_errors(data, message):
    with pytest.raises(KeepaliveError, match=message):
        sd.parse_messages(data, [])


@pytest.mark.parametrize(
    "states, mask",
    [
        (["established"], 1 << 1),
        (["established", "listen"], (1 << 1) | (1 << 10)),
        (["time_wait", "close_wait"], (1 << 6) | (1 << 8)),
        ([], 0),
    ],
)
def test_state_mask(states, mask):
    assert sd.state_mask(states) == mask


def test_state_mask_unknown_names_the_option_and_choices():
    with pytest.raises(
        KeepaliveError, match=r"states=\['estab'\]: unknown TCP state 'estab'.*listen"
    ):
        sd.state_mask(["estab"])


@pytest.mark.parametrize(
    "family, sid, expected",
    [
        (socket.AF_INET, V4, ("127.0.0.1:6379", "127.0.0.2:40000")),
        (socket.AF_INET6, V6, ("[::1]:22", "[::]:0")),
    ],
)
def test_endpoints(family, sid, expected):
    assert sd.endpoints(family, sid) == expected
    assert sd.ports(sid) == (int(expected[0].rsplit(":", 1)[1]), int(expected[1].rsplit(":", 1)[1]))


def test_build_request_is_a_dump_of_tcp_in_the_given_states():
    request = sd.build_request(socket.AF_INET6, sd.state_mask(["listen"]))
    length, kind, flags = struct.unpack_from("=IHH", request)
    family, protocol, ext, _pad, states = struct.unpack_from("=BBBBI", request, 16)
    assert (length, kind, flags) == (len(request), 20, 0x301) and length == 72
    assert (family, protocol, ext, states) == (socket.AF_INET6, socket.IPPROTO_TCP, 0, 1 << 10)
    with_info = sd.build_request(socket.AF_INET, 2, ext=sd.INFO_EXTENSION)
    assert struct.unpack_from("=B", with_info, 18) == (2,)  # bit INET_DIAG_INFO - 1


# ---------------------------------------------------------------- live kernel


def _own_cgroup_id():
    from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
        _procfd,
    )

    root = _procfd.unified_cgroup_root()
    path = _procfd.read_cgroup_path(os.getpid())
    return os.stat(root + path).st_ino


def _by_inode(sockets):
    return {s[7]: s for s in sockets}


def _pair(family=socket.AF_INET, host="127.0.0.1", idle=None):
    listener = socket.socket(family)
    listener.bind((host, 0))
    listener.listen()
    client = socket.socket(family)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if idle:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    client.connect(listener.getsockname()[:2])
    accepted, _peer = listener.accept()
    return listener, client, accepted


def test_live_dump_sees_our_sockets_with_their_keepalive_timer():
    listener, client, accepted = _pair(idle=321)
    try:
        found = _by_inode(sd.dump_tcp(["established", "listen"]))
        lst = found[os.fstat(listener.fileno()).st_ino]
        cli = found[os.fstat(client.fileno()).st_ino]
        acc = found[os.fstat(accepted.fileno()).st_ino]
        assert sd.TCP_STATES[lst[1]] == "listen" and lst[2] == sd.TIMER_NONE
        assert sd.TCP_STATES[cli[1]] == "established"
        # idle client with SO_KEEPALIVE: keepalive timer armed, at most TCP_KEEPIDLE ahead
        assert cli[2] == sd.TIMER_KEEPALIVE and 310000 < cli[5] <= 321000
        assert acc[2] == sd.TIMER_NONE  # accepted side has no SO_KEEPALIVE
        assert sd.endpoints(cli[0], cli[4]) == (
            "127.0.0.1:%d" % client.getsockname()[1],
            "127.0.0.1:%d" % listener.getsockname()[1],
        )
        assert cli[6] == os.geteuid()
        assert cli[8] == _own_cgroup_id() != 0
    finally:
        for sock in (listener, client, accepted):
            sock.close()


def test_live_dump_ipv6_and_kernel_state_filter():
    listener, client, accepted = _pair(socket.AF_INET6, "::1")
    try:
        only_listen = _by_inode(sd.dump_tcp(["listen"]))
        assert os.fstat(listener.fileno()).st_ino in only_listen
        assert os.fstat(client.fileno()).st_ino not in only_listen
        entry = only_listen[os.fstat(listener.fileno()).st_ino]
        assert entry[0] == socket.AF_INET6
        assert sd.endpoints(entry[0], entry[4])[0] == "[::1]:%d" % listener.getsockname()[1]
    finally:
        for sock in (listener, client, accepted):
            sock.close()


@pytest.fixture
def netns():
    name = "ut-sd-%s" % uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_live_dump_inside_a_namespace_sees_only_its_sockets(netns):
    def open_there():
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        pair = _pair(idle=77)
        return pair, _by_inode(sd.dump_tcp(["established", "listen"]))

    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    (listener, client, accepted), inside = run_in_netns("/run/netns/" + netns, open_there)
    try:
        inodes = {os.fstat(s.fileno()).st_ino for s in (listener, client, accepted)}
        assert set(inside) == inodes  # a fresh namespace holds exactly our three sockets
        assert not inodes & set(_by_inode(sd.dump_tcp(["established", "listen"])))
        assert inside[os.fstat(client.fileno()).st_ino][5] <= 77000
    finally:
        for sock in (listener, client, accepted):
            sock.close()


def _sockid(family, remote):
    """A raw inet_diag_sockid with ``remote`` as the peer address (local is irrelevant)."""
    packed = socket.inet_pton(family, remote)
    return struct.pack(
        "!HH16s16sI8s", 40000, 443, b"\0" * 16, packed.ljust(16, b"\0"), 0, b"\0" * 8
    )


@pytest.mark.parametrize(
    "family, remote, expected",
    [
        (socket.AF_INET, "127.0.0.1", True),
        (socket.AF_INET, "127.200.3.4", True),
        (socket.AF_INET, "10.0.0.1", False),
        (socket.AF_INET, "192.0.2.1", False),
        (socket.AF_INET6, "::1", True),
        (socket.AF_INET6, "::ffff:127.0.0.1", True),
        (socket.AF_INET6, "::ffff:10.0.0.1", False),
        (socket.AF_INET6, "2001:db8::1", False),
        (socket.AF_INET6, "::2", False),
    ],
)
def test_loopback_peer_never_crosses_a_middlebox(family, remote, expected):
    assert sd.loopback_peer(family, _sockid(family, remote)) is expected

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long Linux takes to notice a dead peer, idle or busy (pure Python, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.

"A dead peer is noticed within time + intvl x probes" is true only for an IDLE connection.
Keepalive never fires while data is unacknowledged or waiting in the send queue
(``tcp_keepalive_timer()`` in net/ipv4/tcp_timer.c returns early while ``packets_out`` or
the write queue is non-empty): a writer blocked on a dead peer waits for the retransmission
timer to give up instead, which ``net.ipv4.tcp_retries2`` decides (default 15: about 15
minutes), unless the application set ``TCP_USER_TIMEOUT`` (tcp(7), RFC 5482), which then
replaces both the retransmission limit and the keepalive probe count.

Every figure is in seconds from the last moment the peer was heard from (idle: the last
segment received from it; busy: the first transmission of the oldest unacknowledged
segment); each function evaluates the kernel's own rules, named with their sources:

- ``detection_idle(time, intvl, probes, user_timeout=None)``
- ``detection_busy(retries2, rto_initial=0.2, rto_max=120.0, user_timeout=None)``
- ``busy_timeout(retries2, rto_max=120.0)``: the give-up threshold alone
- ``earliest_busy_drop(retries2, ...)``: the soonest a busy connection can be dropped
- ``retransmission_times(retries2, ...)``: when each retransmission leaves and when the
  connection is dropped
- ``smallest_retries2(detect_busy_within, tolerate_outage, rto_initial=0.2, rto_max=120.0)``

Kernel timers are never early but may be late: the timer wheel rounds each expiry up to its
bucket (at HZ=250, 4 ms below 252 ms, 32 ms below 2 s, 256 ms below 16 s), so a measured time
is the figure here plus up to a few percent. tests/integration/test_detection_kernel.py
measures every rule on a real kernel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import (
    check_integer,
    kind,
    limit_error,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    KERNEL_LIMITS,
    RETRIES2_LIMITS,
    probe_window,
)

# include/net/tcp.h: TCP_RTO_MIN is HZ/5 (200 ms), TCP_RTO_MAX is 120 s; net.ipv4.tcp_rto_max_ms
# (Linux 6.15+, ip-sysctl.rst) lowers the cap within 1000..120000 ms.
RTO_MIN = 0.2
RTO_MAX = 120.0
RTO_MAX_LIMITS = (1.0, 120.0)
# tcp_retries2: what the sysctl takes (RETRIES2_LIMITS, from _vocabulary).
# TCP_USER_TIMEOUT takes an unsigned int of milliseconds, refused above INT_MAX.
USER_TIMEOUT_MAX = 2147483.647


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seconds(name, value, low, high, low_open=False):
    allowed = "seconds in %s%s..%s]" % ("(" if low_open else "[", low, high)
    if not _is_number(value) or math.isnan(value):
        message = "%s must be a number of %s, got %r (%s)" % (name, allowed, value, kind(value))
        raise limit_error(message, name, value, low, high)
    if value < low or (low_open and value == low) or value > high:
        message = "%s=%s is out of range: allowed %s" % (name, value, allowed)
        raise limit_error(message, name, value, low, high)
    return value


def _user_timeout(value):
    """None or 0 (the kernel's "not set") -> None; else positive seconds."""
    if value is None or (_is_number(value) and value == 0):
        return None
    return _seconds("user_timeout", value, 0, USER_TIMEOUT_MAX, low_open=True)


def _ms(seconds):
    return int(round(seconds * 1000))


def _s(milliseconds):
    return milliseconds / 1000.0


def _ilog2(value):
    return value.bit_length() - 1


def check_keepalive(time, intvl, probes):
    """The three keepalive values as integers within the socket option limits."""
    return tuple(
        check_integer(name, value, *KERNEL_LIMITS[name])
        for name, value in (("time", time), ("intvl", intvl), ("probes", probes))
    )


def detection_idle(time, intvl, probes, user_timeout=None):
    """Seconds from the last segment received until an idle connection is dropped.

    Rules (``tcp_keepalive_timer()`` in net/ipv4/tcp_timer.c; tcp(7) TCP_KEEPIDLE,
    TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT; ip-sysctl.rst tcp_keepalive_*):

    - The timer fires ``time`` seconds after the last segment received, then every ``intvl``
      seconds; each firing while nothing is heard sends a probe.
    - Without a user timeout the connection is dropped (ETIMEDOUT) at the firing that finds
      ``probes`` probes unanswered: at ``time + intvl * probes``.
    - With ``TCP_USER_TIMEOUT`` U the probe count no longer decides: the connection is
      dropped at the first firing that finds at least one probe out and U elapsed since the
      last segment received, ``time + k * intvl`` for the smallest ``k >= 1`` with
      ``time + k * intvl >= U``. A U shorter than ``intvl * probes`` shortens detection, a
      longer one lengthens it (probes go on past ``probes``); the drop never comes before
      the second firing, whatever U.

    ``user_timeout`` is in seconds (the socket option takes milliseconds); None or 0 means
    not set.
    """
    time, intvl, probes = check_keepalive(time, intvl, probes)
    user_timeout = _user_timeout(user_timeout)
    if user_timeout is None:
        return float(time + probe_window(intvl, probes))
    wait_ms = _ms(user_timeout) - time * 1000
    firings = max(1, -(-wait_ms // (intvl * 1000)))  # ceiling division on integers
    return float(time + firings * intvl)


def busy_timeout(retries2, rto_max=RTO_MAX):
    """The kernel's give-up threshold for unacknowledged data, in seconds (no user timeout).

    ``tcp_model_timeout()`` in net/ipv4/tcp_timer.c, used by ``retransmits_timed_out()``:
    the time a connection would take to make ``retries2`` retransmissions if its RTO started
    at TCP_RTO_MIN (200 ms, whatever the real RTO) and doubled up to the cap ``rto_max``:
    with ``thresh = ilog2(rto_max / TCP_RTO_MIN)`` (9 for 120 s),
    ``(2 ** (retries2 + 1) - 1) * 0.2`` while ``retries2 <= thresh``, else
    ``(2 ** (thresh + 1) - 1) * 0.2 + (retries2 - thresh) * rto_max``: 924.6 s for the
    default 15 (ip-sysctl.rst, tcp_retries2: "a lower bound for the effective timeout").
    Since Linux 6.15 the cap is ``tcp_rto_max(sk)`` (net.ipv4.tcp_rto_max_ms or the socket's
    TCP_RTO_MAX_MS) in this model as well as in the backoff; before, always 120 s.

    The kernel compares it with the time since ``retrans_stamp``, the first RETRANSMISSION
    (``tcp_retransmit_skb()`` in net/ipv4/tcp_output.c stamps the segment after sending it
    again), not since the first transmission: see ``detection_busy``.
    """
    retries2 = check_integer("retries2", retries2, *RETRIES2_LIMITS)
    rto_max = _seconds("rto_max", rto_max, *RTO_MAX_LIMITS)
    return _s(_busy_timeout_ms(retries2, _ms(rto_max)))


def _busy_timeout_ms(retries2, rto_max_ms):
    base = _ms(RTO_MIN)
    thresh = _ilog2(rto_max_ms // base)
    if retries2 <= thresh:
        return ((2 << retries2) - 1) * base
    return ((2 << thresh) - 1) * base + (retries2 - thresh) * rto_max_ms


def retransmission_times(retries2, rto_initial=RTO_MIN, rto_max=RTO_MAX, user_timeout=None):
    """When each retransmission leaves and when the connection gives up, in seconds from the
    first transmission of the oldest unacknowledged segment (rules: ``detection_busy``).

    Returns ``{"retransmissions": [s, ...], "dropped": s, "earliest": s, "threshold": s}``:
    ``dropped`` at the nominal timer expiries, ``earliest`` the soonest the kernel can give
    up (first retransmission + threshold), ``threshold`` the limit on the time since the
    first retransmission (``busy_timeout`` or the user timeout).
    """
    retries2 = check_integer("retries2", retries2, *RETRIES2_LIMITS)
    rto_max = _seconds("rto_max", rto_max, *RTO_MAX_LIMITS)
    rto_initial = _seconds("rto_initial", rto_initial, 0, rto_max, low_open=True)
    user_timeout = _user_timeout(user_timeout)
    if user_timeout is None:
        limit_ms = _busy_timeout_ms(retries2, _ms(rto_max))
    else:
        limit_ms = _ms(user_timeout)
    rto_ms, rto_max_ms = max(1, _ms(rto_initial)), _ms(rto_max)
    first = now = rto_ms  # first expiry: the first retransmission stamps retrans_stamp
    sent = [first]
    while True:
        rto_ms = min(rto_ms * 2, rto_max_ms)  # back off, re-arm
        step = rto_ms
        if user_timeout is not None:  # tcp_clamp_rto_to_user_timeout: 1 jiffy once past U
            step = max(1, min(rto_ms, first + limit_ms - now))
        now += step
        if now - first >= limit_ms:
            break
        sent.append(now)
    return {
        "retransmissions": [_s(ms) for ms in sent],
        "dropped": _s(now),
        "earliest": _s(first + limit_ms),
        "threshold": _s(limit_ms),
    }


def detection_busy(retries2, rto_initial=RTO_MIN, rto_max=RTO_MAX, user_timeout=None):
    """Seconds from the first transmission of unacknowledged data to ETIMEDOUT.

    Rules (net/ipv4/tcp_timer.c ``tcp_retransmit_timer()``, ``tcp_write_timeout()``,
    ``retransmits_timed_out()``, ``tcp_model_timeout()``, ``tcp_clamp_rto_to_user_timeout()``;
    net/ipv4/tcp_output.c ``tcp_retransmit_skb()``; ip-sysctl.rst tcp_retries2 and
    tcp_rto_max_ms; tcp(7) TCP_USER_TIMEOUT):

    - The retransmission timer first expires one RTO (``rto_initial``: the socket's RTO, the
      200 ms floor plus the RTT rounded up to a jiffy on a LAN) after the first transmission;
      each expiry retransmits the oldest segment and doubles the RTO up to ``rto_max``.
    - The first retransmission starts the give-up clock (``retrans_stamp``). At each later
      expiry the kernel gives up once the time since then has reached the threshold:
      ``busy_timeout(retries2, rto_max)`` without a user timeout, else the user timeout U
      itself (``retries2`` is then ignored, whether U is shorter or longer).
    - With U the timer is clamped to expire when U is reached: the drop comes at
      ``rto_initial + U`` (U counts from the first retransmission, not from the data).
    - Without U the drop comes at the first expiry at or past the threshold. Because the
      clock starts one RTO late, at an RTO of exactly 200 ms the ``retries2 + 1``-th expiry
      falls short by exactly 200 ms and the drop waits one more backed-off RTO (1044.6 s for
      15); an RTO a little above the floor (every real socket: the RTT and the rounding up
      to a jiffy) backs off faster than the model and reaches it sooner (``rto_initial``
      0.201, HZ=1000: 925.6 s for 15). Where an expiry falls within a few tens of
      milliseconds of the threshold, timer lateness decides: the figure here is then the
      later of the two; ``retransmission_times(...)["earliest"]`` is the soonest possible.
    - ``retries2`` 0 and 1 both give 3 RTOs at the floor (0.6 s): there is always at least
      one retransmission.

    Keepalive plays no part while data is outstanding. This is for sockets the application
    still holds (orphans follow tcp_orphan_retries).
    """
    return retransmission_times(retries2, rto_initial, rto_max, user_timeout)["dropped"]


def earliest_busy_drop(retries2, rto_initial=RTO_MIN, rto_max=RTO_MAX, user_timeout=None):
    """The soonest a connection with data in flight can be dropped, in seconds from the
    first transmission: the first retransmission (``rto_initial``) plus the threshold
    (``busy_timeout`` or the user timeout). Kernel timers never fire early, so a network
    outage shorter than this is always survived (924.8 s for the default 15)."""
    return retransmission_times(retries2, rto_initial, rto_max, user_timeout)["earliest"]


def smallest_retries2(
    detect_busy_within, tolerate_outage, rto_initial=RTO_MIN, rto_max=RTO_MAX, lowest=None
):
    """The smallest ``tcp_retries2`` that covers ``tolerate_outage`` and notices a dead peer
    with data in flight within ``detect_busy_within`` seconds.

    Covering means a connection with data in flight is never dropped by a network blip
    shorter than ``tolerate_outage`` seconds, even one that starts at the worst moment (just
    as the data is sent): ``earliest_busy_drop(retries2) >= tolerate_outage`` (the soonest the
    kernel can give up, whatever its timers do). The smallest such value notices a dead peer
    soonest; it must also satisfy ``detection_busy(retries2) <= detect_busy_within``, else no
    value does both and ``KeepaliveError`` names the two constraints and the gap. A
    connection that survives a blip resumes only at its next retransmission, up to one
    backed-off RTO (at most ``rto_max``) after the network is back.

    ``lowest`` is the smallest value the caller may propose (keepalive_sysctl refuses 0..2);
    when it binds, the reason says so.

    Returns ``{"retries2", "detection", "tolerates", "reason"}``: ``detection`` is
    ``detection_busy`` of the proposal, ``tolerates`` its ``earliest_busy_drop`` (a blip
    shorter than that is survived).
    """
    detect_busy_within = _seconds("detect_busy_within", detect_busy_within, 0, 10**9, True)
    tolerate_outage = _seconds("tolerate_outage", tolerate_outage, 0, 10**9)
    low, high = RETRIES2_LIMITS
    if lowest is not None:
        low = check_integer("lowest", lowest, *RETRIES2_LIMITS)
    previous = None
    for retries2 in range(low, high + 1):
        times = retransmission_times(retries2, rto_initial, rto_max)
        if times["earliest"] >= tolerate_outage:
            break
        previous = times["earliest"]
    else:
        raise KeepaliveError(
            "tolerate_outage=%s s is out of reach: even tcp_retries2=%s can drop a busy "
            "connection after %s s" % (tolerate_outage, high, times["earliest"]),
            option="tolerate_outage",
            value=tolerate_outage,
        )
    detection, tolerates = times["dropped"], times["earliest"]
    shorter = ""
    if previous is not None:
        shorter = " (%s can drop it after %s s)" % (retries2 - 1, previous)
    elif low > RETRIES2_LIMITS[0]:
        shorter = " (%s is the lowest value allowed)" % low
    if detection > detect_busy_within:
        raise KeepaliveError(
            "no tcp_retries2 satisfies both: surviving a %s s outage with data in flight "
            "takes tcp_retries2=%s%s, which notices a dead peer only after %s s, over "
            "detect_busy_within %s s by %s s"
            % (
                tolerate_outage,
                retries2,
                shorter,
                detection,
                detect_busy_within,
                round(detection - detect_busy_within, 3),
            ),
            option="detect_busy_within",
            value=detect_busy_within,
            tolerate_outage=tolerate_outage,
        )
    survives = "smallest tcp_retries2 that survives an outage of tolerate_outage %s s" % (
        tolerate_outage
    )
    reason = (
        "%s: it cannot drop a busy connection before %s s%s; notices a dead peer after %s s, "
        "within detect_busy_within %s s"
        % (survives, tolerates, shorter, detection, detect_busy_within)
    )
    return {"retries2": retries2, "detection": detection, "tolerates": tolerates, "reason": reason}

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The path probe's plan: options, bisection, worst-case cost, the result (pure, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.

The probe keeps a bracket ``[low, high]``: ``low`` the longest idle a connection survived,
``high`` the shortest after which one died (``None`` while none has). Each round opens up to
``parallel`` connections at once, each resumed after its own idle time: spread geometrically
up to ``max_idle`` while nothing has died, evenly inside the bracket after that. A box that
forgets a flow idle for ``t`` also forgets one idle longer, so a death ends the round's
longer connections early. Rounds go on until ``high - low <= resolution``, nothing died up
to ``max_idle``, or the next round would pass ``max_duration``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import is_integer

ROLES = ("probe", "listen", "stop")
ENDINGS = ("silent_drop", "reset", "fin")  # how a box ends a flow it forgot
ALIVE = "alive"
MAX_PARALLEL = 32
MAX_PORT = 65535
STARTUP_SECONDS = 2  # connect, hello and header exchange of a round, on a slow path
LISTEN_GRACE = 30  # the listener outlives the probe's max_duration by this much
DEFAULT_NAME = "measured-path"
KEEPALIVE_KEYS = ("time", "intvl", "probes")


def _positive_int(params, name, maximum=None):
    value = params.get(name)
    if not is_integer(value) or value < 1 or (maximum is not None and value > maximum):
        allowed = "an integer from 1" + (" to %d" % maximum if maximum else "")
        raise KeepaliveError("%s=%r: give %s" % (name, value, allowed), option=name, value=value)
    return value


def check_params(params):
    """Every option of the module, checked together before any traffic; returns ``params``."""
    role = params.get("role")
    if role not in ROLES:
        raise KeepaliveError(
            "role=%r: give one of %s" % (role, ", ".join(ROLES)), option="role", value=role
        )
    _positive_int(params, "port", MAX_PORT)
    if not params.get("token"):
        raise KeepaliveError(
            "token=%r: give the shared secret that pairs the probe with its listener"
            % params.get("token"),
            option="token",
        )
    if role in ("probe", "stop") and not params.get("peer"):
        raise KeepaliveError(
            "peer=%r: role=%s needs the peer's address" % (params.get("peer"), role),
            option="peer",
        )
    for name in ("resolution", "max_duration", "max_idle", "min_idle", "answer_within"):
        _positive_int(params, name)
    _positive_int(params, "parallel", MAX_PARALLEL)
    _positive_int(params, "connect_timeout")
    if role == "listen":
        return params
    _check_bounds(params)
    verify = params.get("verify_keepalive")
    if verify is not None:
        for key in KEEPALIVE_KEYS:
            _positive_int(verify, key)
    return params


def _check_bounds(params):
    resolution, max_duration = params["resolution"], params["max_duration"]
    if resolution > max_duration:
        raise KeepaliveError(
            "resolution=%d: must not exceed max_duration=%d" % (resolution, max_duration),
            option="resolution",
            value=resolution,
        )
    if params["min_idle"] >= params["max_idle"]:
        raise KeepaliveError(
            "min_idle=%d: must be below max_idle=%d" % (params["min_idle"], params["max_idle"]),
            option="min_idle",
            value=params["min_idle"],
        )
    round_cost = params["max_idle"] + params["answer_within"] + STARTUP_SECONDS
    if round_cost > max_duration:
        raise KeepaliveError(
            "max_idle=%d: one round to it takes up to %d s (max_idle + answer_within %d + %d "
            "s start), over max_duration=%d; lower max_idle or raise max_duration"
            % (params["max_idle"], round_cost, params["answer_within"], STARTUP_SECONDS,
               max_duration),
            option="max_idle",
            value=params["max_idle"],
        )  # fmt: skip


class Bracket:
    """What the probe knows about the idle timeout: it is above ``low`` and at most ``high``."""

    def __init__(self, low=0, high=None):
        self.low = low
        self.high = high
        self.ending = None  # how the first death ended (one of ENDINGS)

    def record(self, idle, outcome, closed_after=None):
        """One connection's outcome after ``idle`` s; ``closed_after``: seconds of idleness
        when the box closed it during the idle (a FIN or RST seen before resuming)."""
        if outcome == ALIVE:
            self.low = max(self.low, idle)
            return
        if outcome not in ENDINGS:
            raise KeepaliveError("unknown outcome %r of a probe connection" % (outcome,))
        died_at = idle if closed_after is None else min(idle, closed_after)
        if self.high is None or died_at < self.high:
            self.high = died_at
            self.ending = outcome
        if self.high <= self.low:  # a box that is not monotonic, or clocks that disagree
            self.low = 0

    def width(self):
        return None if self.high is None else self.high - self.low

    def done(self, resolution):
        width = self.width()
        return width is not None and width <= resolution

    def as_dict(self):
        return {"low": self.low, "high": self.high}


def next_idles(bracket, parallel, min_idle, max_idle):
    """The idle times (whole seconds, ascending) of the next round's connections."""
    if bracket.high is None:
        start = max(min_idle, bracket.low + 1)
        if start >= max_idle:
            return [max_idle]
        if parallel == 1:  # one connection at a time: double the longest survivor
            return [min(max_idle, max(start, 2 * bracket.low))]
        ratio = (max_idle / start) ** (1.0 / (parallel - 1))
        points = [start * ratio**i for i in range(parallel)]
        points[-1] = max_idle
    else:
        step = (bracket.high - bracket.low) / (parallel + 1)
        points = [bracket.low + step * (i + 1) for i in range(parallel)]
    idles = sorted(set(int(round(p)) for p in points))
    upper = max_idle if bracket.high is None else bracket.high
    inside = [t for t in idles if bracket.low < t < upper or (bracket.high is None and t == upper)]
    if not inside and bracket.high is not None and bracket.high - bracket.low >= 2:
        inside = [bracket.low + (bracket.high - bracket.low) // 2]
    return inside


def round_cost(idles, answer_within):
    """Worst-case seconds of a round: its longest connection resumed and left unanswered."""
    return max(idles) + answer_within + STARTUP_SECONDS


def estimate(params):
    """A worst-case plan without traffic (what check mode returns): rounds if every
    connection survives the first round's shortest idle only, the duration bound, the most
    connections open at once."""
    bracket = Bracket()
    rounds, seconds = [], 0
    while not bracket.done(params["resolution"]):
        idles = next_idles(bracket, params["parallel"], params["min_idle"], params["max_idle"])
        if not idles:
            break
        if seconds + round_cost(idles, params["answer_within"]) > params["max_duration"]:
            break
        rounds.append(idles)
        seconds += round_cost(idles, params["answer_within"])
        # the slowest case: the longest idle dies, all the others survive
        for idle in idles[:-1]:
            bracket.record(idle, ALIVE)
        bracket.record(idles[-1], "silent_drop")
    return {
        "rounds": rounds,
        "worst_case_seconds": min(seconds, params["max_duration"]),
        "max_duration": params["max_duration"],
        "connections_at_once": params["parallel"],
        "peer": params.get("peer"),
        "port": params["port"],
    }


def override_entry(bracket, name, description_extra=""):
    """The ``tcp_keepalive_path`` entry a user can paste: the longest idle that survived
    (the safe side of the bracket); layer 7 when the box closed flows with a FIN (a proxy
    closes its connection, a NAT forgets it)."""
    if bracket.high is None or bracket.low < 1:
        return None
    layer = 7 if bracket.ending == "fin" else 4
    description = (
        "measured by keepalive_path_probe: idle timeout in (%s, %s] s, ends flows by %s"
        % (
            bracket.low,
            bracket.high,
            bracket.ending,
        )
    )
    return {
        "name": name,
        "idle_timeout": int(math.floor(bracket.low)),
        "layer": layer,
        "description": description + description_extra,
    }

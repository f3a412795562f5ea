# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The body of keepalive_path_probe: options, the three roles, the rounds, the result.

This module_util is private to the netstack.keepalive collection; it may change at any time.

``run(params, check_mode)`` checks every option first (``_plan.check_params``), then:
``role=probe`` proves the listener is ours, runs rounds of parallel connections until the
bracket is as narrow as ``resolution`` (or ``max_duration`` would pass), optionally holds
one connection with ``verify_keepalive`` past the measured timeout; ``role=listen`` serves
them for ``listen_for`` seconds at most; ``role=stop`` ends a listener. Every connection is
closed on every exit: a finished round, an error, or SIGTERM (turned into an exception by
the module). Check mode returns the plan and opens nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import threading
import time

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._probe import _plan, _wire

ARGUMENT_SPEC = dict(
    role=dict(type="str", default="probe", choices=list(_plan.ROLES)),
    peer=dict(type="str"),
    port=dict(type="int", required=True),
    token=dict(type="str", required=True, no_log=True),
    bind_address=dict(type="str", default="0.0.0.0"),
    listen_for=dict(type="int"),
    resolution=dict(type="int", default=10),
    min_idle=dict(type="int", default=5),
    max_idle=dict(type="int", default=900),
    max_duration=dict(type="int", default=1800),
    parallel=dict(type="int", default=8),
    answer_within=dict(type="int", default=5),
    connect_timeout=dict(type="int", default=5),
    name=dict(type="str", default=_plan.DEFAULT_NAME),
    verify_keepalive=dict(
        type="dict",
        options=dict(
            time=dict(type="int", required=True),
            intvl=dict(type="int", required=True),
            probes=dict(type="int", required=True),
        ),
    ),
)


def module_kwargs():
    return dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def run(params, check_mode=False):
    """The module's result for ``params`` (KeepaliveError on bad input or a broken path)."""
    _plan.check_params(params)
    role = params["role"]
    if role == "listen":
        return _listen(params, check_mode)
    if role == "stop":
        if check_mode:
            return {"changed": False, "stopped": False}
        stopped = _wire.stop(
            params["peer"], params["port"], params["token"], params["connect_timeout"]
        )
        return {"changed": False, "stopped": stopped}
    plan = _plan.estimate(params)
    if check_mode:
        return {"changed": False, "plan": plan}
    return _probe(params, plan)


def _listen(params, check_mode):
    listen_for = params.get("listen_for") or params["max_duration"] + _plan.LISTEN_GRACE
    if check_mode:
        return {"changed": False, "listening": False, "listen_for": listen_for}
    started = time.monotonic()
    listener = _wire.Listener(params["bind_address"], params["port"], params["token"], listen_for)
    served = listener.serve()
    duration = round(time.monotonic() - started, 1)
    served.update(changed=False, listen_for=listen_for, duration=duration)
    return served


def _probe(params, plan):
    peer, port, token = params["peer"], params["port"], params["token"]
    _wire.hello(peer, port, token, params["connect_timeout"])
    started = time.monotonic()
    deadline = started + params["max_duration"]
    bracket = _plan.Bracket()
    rounds, stopped_by = [], None
    while stopped_by is None:
        idles = _plan.next_idles(
            bracket, params["parallel"], params["min_idle"], params["max_idle"]
        )
        if not idles:
            stopped_by = "resolution"
            break
        if time.monotonic() + _plan.round_cost(idles, params["answer_within"]) > deadline:
            stopped_by = "max_duration"
            break
        outcomes = _round(params, idles)
        rounds.append(outcomes)
        for outcome in outcomes:
            if outcome["outcome"] != "aborted":
                bracket.record(outcome["idle"], outcome["outcome"], outcome.get("closed_after"))
        stopped_by = _stop_reason(bracket, params, idles, outcomes)
    result = {
        "changed": False,
        "idle_timeout": bracket.as_dict(),
        "ends_flows_by": bracket.ending,
        "path_override": _plan.override_entry(bracket, params["name"]),
        "rounds": rounds,
        "connections": sum(len(r) for r in rounds),
        "stopped_by": stopped_by,
        "plan": plan,
    }
    if params.get("verify_keepalive") and bracket.high is not None:
        result["verify"] = _verify(params, bracket, deadline)
    result["duration"] = round(time.monotonic() - started, 1)
    return result


def _stop_reason(bracket, params, idles, outcomes):
    if bracket.done(params["resolution"]):
        return "resolution"
    everything_survived = all(o["outcome"] == _plan.ALIVE for o in outcomes)
    if bracket.high is None and idles[-1] >= params["max_idle"] and everything_survived:
        return "max_idle"
    return None


def _round(params, idles, keepalive=None):
    """Open one connection per idle time, run them at once; a death ends the longer ones."""
    conns = []
    try:
        for idle in idles:
            conns.append(
                _wire.ProbeConnection(
                    params["peer"],
                    params["port"],
                    params["token"],
                    idle,
                    params["answer_within"],
                    params["connect_timeout"],
                    keepalive=keepalive,
                )
            )
        aborts = [threading.Event() for _conn in conns]
        pairs = zip(conns, aborts)  # noqa: B905 - hosts may run Python < 3.10
        threads = [threading.Thread(target=conn.run, args=(abort,)) for conn, abort in pairs]
        for thread in threads:
            thread.daemon = True
            thread.start()
        while any(thread.is_alive() for thread in threads):
            _abort_longer(conns, aborts)
            time.sleep(0.1)
        return [conn.as_dict() for conn in conns]
    finally:
        for conn in conns:
            conn.close()


def _abort_longer(conns, aborts):
    deaths = [c.idle for c in conns if c.outcome not in (None, _plan.ALIVE, "aborted")]
    if deaths:
        shortest = min(deaths)
        for conn, abort in zip(conns, aborts):  # noqa: B905 - Python 3.6 hosts
            if conn.idle > shortest:
                abort.set()


def _verify(params, bracket, deadline):
    """Hold one connection with the proposed keepalive past the measured timeout."""
    values = params["verify_keepalive"]
    idle = int(math.ceil(bracket.high)) + params["resolution"]
    if time.monotonic() + _plan.round_cost([idle], params["answer_within"]) > deadline:
        return {"idle": idle, "outcome": None, "kept": None, "keepalive": values,
                "skipped": "max_duration leaves no time for it"}  # fmt: skip
    (outcome,) = _round(params, [idle], keepalive=values)
    outcome.update(keepalive=values, kept=outcome["outcome"] == _plan.ALIVE)
    return outcome


__all__ = ["ARGUMENT_SPEC", "KeepaliveError", "module_kwargs", "run"]

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy checks on the adoption audit: required services and middlebox paths.

This module_util is private to the netstack.keepalive collection; it may change at any time.

Both checks work on the summary rows (one per unit x command x state x effective values), so
100,000 sockets cost as many verdicts as there are distinct groups, not sockets. Verdicts have
the one shape of the policy engine: ``{check, subject, status, value, limit, message}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._engine import (
    FAIL,
    PASS,
    WARN,
    busy_figures,
    idle_verdicts,
    judge_busy,
    layer4,
    resolve_path,
    resolve_profile,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._heartbeat import (
    declared_heartbeat,
    heartbeat_of,
    heartbeat_verdicts,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import kind
from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation_containers,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    advice_for,
    heartbeat_interval,
    passing_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption import (
    RETRIES2,
    SOURCE_GETSOCKOPT,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    STATUS_RANK,
    make_verdict,
)

REQUIRED_STATES = ("established", "listen")
REQUIRE_KEYS = ("name", "states", "heartbeat")


def normalize_require(items, option="require", default_states=REQUIRED_STATES):
    """``require`` items: a name (unit or command, glob allowed) or ``{name, states,
    heartbeat}``.

    Returns every item as ``{name, states}`` (and ``heartbeat``, a declared heartbeat of
    ``_heartbeat``, when given); a bare name gets ``default_states``. Raises
    ``KeepaliveError`` naming ``option``, the item, its index and what is allowed.
    """
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise KeepaliveError(
            "%s=%r (%s): allowed: a list of unit or process names (shell patterns) or "
            "{name: NAME, states: [%s]}" % (option, items, kind(items), _STATE_LIST),
            option=option,
        )
    return [
        _require_item(option, index, item, default_states) for index, item in enumerate(items, 1)
    ]


_STATE_LIST = ", ".join(REQUIRED_STATES)


def _require_item(option, index, item, default_states):
    where = "%s[%d]=%r" % (option, index, item)
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise KeepaliveError(
            "%s (%s): allowed: a unit or process name (shell pattern) or {name: NAME, "
            "states: [%s]}" % (where, kind(item), _STATE_LIST),
            option=option,
        )
    unknown = sorted(str(key) for key in item if key not in REQUIRE_KEYS)
    if unknown:
        raise KeepaliveError(
            "%s: unknown keys %s; allowed keys: %s" % (where, unknown, ", ".join(REQUIRE_KEYS)),
            option=option,
        )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise KeepaliveError(
            "%s: name=%r (%s): allowed: a non-empty unit or process name (shell pattern)"
            % (where, name, kind(name)),
            option=option,
        )
    clean = {"name": name, "states": _require_states(where, option, item, default_states)}
    if item.get("heartbeat") is not None:
        beat = declared_heartbeat(option, index, {"name": name, "heartbeat": item["heartbeat"]})
        clean["heartbeat"] = beat["interval"]
    return clean


def required_heartbeats(require, option="require"):
    """The heartbeats declared in ``require`` items (``{name, heartbeat}``)."""
    return [
        declared_heartbeat(option, index, {"name": item["name"], "heartbeat": item["heartbeat"]})
        for index, item in enumerate(normalize_require(require, option), 1)
        if "heartbeat" in item
    ]


def _require_states(where, option, item, default_states):
    states = item.get("states", list(default_states))
    if not isinstance(states, (list, tuple)):
        raise KeepaliveError(
            "%s: states=%r (%s): allowed: a list of one or more of %s"
            % (where, states, kind(states), _STATE_LIST),
            option=option,
        )
    bad = [state for state in states if not isinstance(state, str) or state not in REQUIRED_STATES]
    if bad or not states:
        raise KeepaliveError(
            "%s: states=%r: allowed: a list of one or more of %s" % (where, states, _STATE_LIST),
            option=option,
        )
    unique = []
    for state in states:
        if state not in unique:
            unique.append(state)
    return unique


def _row_matches(row, pattern):
    return any(
        name is not None and fnmatch.fnmatchcase(name, pattern)
        for name in (row["unit"], row["comm"])
    )


def require_verdicts(rows, require, audited_states, heartbeats=None):
    """One verdict per required name and state: every socket must have keepalive on, or
    belong to a service whose heartbeat keeps its connections open (``heartbeats``)."""
    result = []
    for item in normalize_require(require):
        for state in item["states"]:
            subject = "%s (%s)" % (item["name"], state)
            if state not in audited_states:
                message = "state %s was not audited (states=%s)" % (state, list(audited_states))
                result.append(
                    make_verdict("keepalive_required", subject, WARN, None, None, message)
                )
                continue
            mine = [r for r in rows if r["state"] == state and _row_matches(r, item["name"])]
            verdict = _require_verdict(subject, item["name"], state, mine)
            beat = next(
                (heartbeat_of(r, heartbeats) for r in mine if heartbeat_of(r, heartbeats)), None
            )
            if beat is not None and state == "established" and verdict["status"] != PASS and mine:
                verdict = _kept_by_heartbeat(verdict, beat)
            result.append(verdict)
    return result


def _kept_by_heartbeat(verdict, beat):
    """SO_KEEPALIVE off or unknown, but the service sends a heartbeat: its connections are
    kept open by data (the path check judges the interval against the boxes)."""
    message = "%s, but they are kept open by %s every %s s (%s)" % (
        verdict["message"],
        beat["label"],
        beat["interval"],
        beat["source"],
    )
    return make_verdict(
        "keepalive_required", verdict["subject"], PASS, verdict["value"], verdict["limit"], message
    )


def _require_verdict(subject, name, state, rows):
    total = sum(r["count"] for r in rows)
    on = sum(r["count"] for r in rows if r["keepalive"] is True)
    off = sum(r["count"] for r in rows if r["keepalive"] is False)
    unknown = total - on - off
    if total == 0:
        status = FAIL
        message = "no %s TCP socket of %s found: cannot prove keepalive" % (state, name)
    elif off:
        status = FAIL
        message = "%d of %d %s sockets of %s have SO_KEEPALIVE off" % (off, total, state, name)
        if state == "listen":
            message += (
                " (connections it accepts inherit that unless the service sets SO_KEEPALIVE "
                "on each one, as sshd, redis and PostgreSQL do)"
            )
    elif unknown:
        status = WARN
        message = "%d of %d %s sockets of %s: keepalive cannot be told from the timer" % (
            unknown,
            total,
            state,
            name,
        )
    else:
        status = PASS
        message = "all %d %s sockets of %s have SO_KEEPALIVE on" % (total, state, name)
    return make_verdict("keepalive_required", subject, status, on, total, message)


def path_verdicts(
    rows,
    path,
    profile=None,
    profiles=None,
    namespaces=None,
    heartbeats=None,
    container_advice=_remediation_containers.container_advice,
):
    """Each group's effective idle against the layer-4 boxes of ``path``, and when it notices
    a dead peer with data in flight (``busy_detection``, one per group).

    A group whose service sends a heartbeat (``heartbeats``: sshd's read from the host, or
    declared) is judged by its interval against every box instead (``_heartbeat``). A group
    that fails or warns carries ``advice``: the service's own knob and the value that passes
    (``_remediation``; ``container_advice(owner, values)`` for a container's namespace).

    ``rows`` are the summary of the sockets that cross the path (established, remote peer):
    the caller leaves out listeners and loopback connections. ``namespaces`` maps a row's
    ``netns`` to its entry of the audit (its ``tcp_retries2``); a namespace missing there,
    or whose value could not be read, is taken to have the kernel default (the verdict
    says so).

    A socket behind a box that forgets idle connections needs keepalive on and its first probe
    before the box's timeout: an application that sets its own 7200 s behind a 350 s NAT
    fails even when the sysctl is right.
    """
    boxes = resolve_path(path)
    if not boxes:
        return []
    prof = resolve_profile({} if profile is None else profile, profiles)
    margin = prof["margin"]
    passing = passing_values(boxes, profile, profiles)
    heartbeat = heartbeat_interval(boxes, profile, profiles)
    result = []
    for row in rows:
        owner = "%s %s" % (row["unit"] or "-", row["comm"] or "-")
        subject = "%s [%s] %s (%d sockets)" % (owner, row["netns"], row["state"], row["count"])
        namespace = (namespaces or {}).get(row["netns"])
        beat = heartbeat_of(row, heartbeats)
        if beat is not None:
            result += _kept_open_verdicts(subject, row, beat, boxes, margin, heartbeat)
        else:
            idle = _idle_verdicts(subject, row, boxes, margin)
            advice = advice_for(row, passing, heartbeat, namespace, container_advice)
            result += [_with_advice(verdict, advice) for verdict in idle]
        result.append(_busy_verdict(subject, row, namespace, prof))
    return result


def _kept_open_verdicts(subject, row, beat, boxes, margin, heartbeat):
    """A group with a heartbeat, per box: the heartbeat's verdict, unless the group's own
    keepalive keeps a layer-4 box open where the heartbeat alone would not (sshd with
    TCPKeepAlive yes and a long ClientAliveInterval)."""
    by_box = {}
    if row["keepalive"] is True and row["idle"] is not None:
        by_box = {v["subject"]: v for v in idle_verdicts(row["idle"], boxes, margin)}
    result = heartbeat_verdicts(subject, beat, boxes, margin, heartbeat)
    for index, box in enumerate(boxes):
        verdict, probes = result[index], by_box.get(box.id)
        if probes is not None and STATUS_RANK[probes["status"]] < STATUS_RANK[verdict["status"]]:
            result[index] = _socket_idle_verdict(subject, probes)
    return result


def _idle_verdicts(subject, row, boxes, margin):
    if row["keepalive"] is False:
        return [_off_verdict(subject, boxes)]
    if row["keepalive"] is None or row["idle"] is None:
        message = (
            "effective idle unknown (source %s): cannot check it against the path" % row["source"]
        )
        return [make_verdict("socket_idle", subject, WARN, None, None, message)]
    return [_socket_idle_verdict(subject, v) for v in idle_verdicts(row["idle"], boxes, margin)]


def _with_advice(verdict, advice):
    """A failing or warning verdict of a known idle figure carries how to fix it."""
    if advice is None or verdict["status"] == PASS or verdict["limit"] is None:
        return verdict
    return dict(verdict, advice=advice)


def _busy_verdict(subject, row, namespace, prof):
    """A group's ``busy_detection``: its sockets' ``TCP_USER_TIMEOUT`` when set, else its
    namespace's ``tcp_retries2``, judged by the host-level rule (``judge_busy``)."""
    if row["source"] != SOURCE_GETSOCKOPT:
        message = (
            "%s: TCP_USER_TIMEOUT unknown (source %s): cannot tell when a dead peer is "
            "noticed with data in flight" % (subject, row["source"])
        )
        return make_verdict("busy_detection", subject, WARN, None, None, message)
    retries2 = None if namespace is None else namespace.get(RETRIES2)
    user_timeout = row.get("user_timeout")
    try:
        figures = busy_figures(retries2, user_timeout)
    except KeepaliveError as exc:
        message = "%s: %s" % (subject, exc)
        return make_verdict("busy_detection", subject, WARN, retries2, None, message)
    if user_timeout is not None:
        figures["basis"] = "the sockets' TCP_USER_TIMEOUT %s s" % user_timeout
    elif figures["assumed"]:
        figures["basis"] = "tcp_retries2 of namespace %s unknown: the kernel default %s" % (
            row["netns"],
            figures["retries2"],
        )
    else:
        figures["basis"] = "tcp_retries2 %s of namespace %s" % (figures["retries2"], row["netns"])
    return judge_busy(figures, prof, subject, "%s: " % subject)


def _socket_idle_verdict(subject, box_verdict):
    """A group's ``socket_idle`` verdict from the ``middlebox_idle`` verdict of one box."""
    return make_verdict(
        "socket_idle",
        "%s via %s" % (subject, box_verdict["subject"]),
        box_verdict["status"],
        box_verdict["value"],
        box_verdict["limit"],
        "%s: %s" % (subject, box_verdict["message"]),
    )


def _off_verdict(subject, boxes):
    timeouts = [box.idle_timeout for box in layer4(boxes) if box.idle_timeout is not None]
    if not timeouts:
        message = "SO_KEEPALIVE off, and no box on the path has a known layer-4 idle timeout"
        return make_verdict("socket_idle", subject, PASS, None, None, message)
    smallest = min(timeouts)
    message = (
        "%s: SO_KEEPALIVE off: an idle connection through the path dies silently after %d s"
        % (subject, smallest)
    )
    return make_verdict("socket_idle", subject, FAIL, None, smallest, message)

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Application heartbeats judged against a path (pure, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.

A heartbeat is data: it resets the idle timer of every box on the path, layer 4 and proxies
alike, which kernel keepalive probes cannot do for a proxy. A service that sends one (sshd's
ClientAlive messages, read from ``sshd -T``; or one the user declares) is judged by its
interval instead of its sockets' SO_KEEPALIVE: an interval that leaves the margin before the
smallest idle timeout passes, one at or over a box's timeout fails naming the box and the
interval to set.

A heartbeat is ``{name, interval, source, label}``: ``name`` a unit or command pattern, or
``service`` (a key of ``_remediation.SERVICES``) for one read from the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import (
    latest_first_probe,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import kind
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    identify,
    sshd_advice,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    FAIL,
    PASS,
    WARN,
    is_integer,
    make_verdict,
)

HEARTBEAT_KEYS = ("name", "heartbeat")
# A day: a heartbeat rarer than that keeps no box open; the bound catches unit mistakes (ms).
MAX_HEARTBEAT = 86400
DECLARED = "declared"


def declared_heartbeat(option, index, item):
    """``{name, heartbeat}`` as given by the user, checked, as a heartbeat."""
    where = "%s[%d]=%r" % (option, index, item)
    allowed = "{name: UNIT_OR_COMMAND, heartbeat: SECONDS}"
    if not isinstance(item, dict):
        raise KeepaliveError("%s (%s): allowed: %s" % (where, kind(item), allowed), option=option)
    unknown = sorted(str(key) for key in item if key not in HEARTBEAT_KEYS)
    if unknown:
        raise KeepaliveError(
            "%s: unknown keys %s; allowed keys: %s" % (where, unknown, ", ".join(HEARTBEAT_KEYS)),
            option=option,
        )
    name, seconds = item.get("name"), item.get("heartbeat")
    if not isinstance(name, str) or not name.strip():
        raise KeepaliveError(
            "%s: name=%r (%s): allowed: a non-empty unit or process name (shell pattern)"
            % (where, name, kind(name)),
            option=option,
        )
    if not is_integer(seconds) or not 1 <= seconds <= MAX_HEARTBEAT:
        raise KeepaliveError(
            "%s: heartbeat=%r (%s): allowed: the seconds between the service's heartbeats, "
            "an integer 1..%d" % (where, seconds, kind(seconds), MAX_HEARTBEAT),
            option=option,
        )
    return {"name": name, "interval": seconds, "source": DECLARED, "label": "%s's heartbeat" % name}


def normalize_heartbeats(items, option="heartbeats"):
    """Declared heartbeats as heartbeat mappings; ``KeepaliveError`` naming the bad one."""
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise KeepaliveError(
            "%s=%r (%s): allowed: a list of {name: UNIT_OR_COMMAND, heartbeat: SECONDS}"
            % (option, items, kind(items)),
            option=option,
        )
    return [declared_heartbeat(option, index, item) for index, item in enumerate(items, 1)]


def heartbeat_of(row, heartbeats):
    """The first heartbeat that covers the group ``row`` (by unit or command), or None."""
    for beat in heartbeats or ():
        if beat.get("service"):
            if identify(row.get("unit"), row.get("comm")) == beat["service"]:
                return beat
        elif any(
            name is not None and fnmatch.fnmatchcase(name, beat["name"])
            for name in (row.get("unit"), row.get("comm"))
        ):
            return beat
    return None


def _said(beat):
    return "%s every %s s (%s)" % (beat["label"], beat["interval"], beat["source"])


def heartbeat_verdicts(subject, beat, boxes, margin, recommended):
    """One ``socket_idle`` verdict per box on the path, for a group kept by ``beat``.

    ``recommended`` is the interval to advise when the heartbeat is too slow (a third of the
    smallest timeout, ``_remediation.heartbeat_interval``).
    """
    return [_heartbeat_verdict(subject, beat, box, margin, recommended) for box in boxes]


def _heartbeat_verdict(subject, beat, box, margin, recommended):
    label = "%s (%s)" % (box.product, box.id)
    interval = beat["interval"]
    name = "%s via %s" % (subject, box.id)
    if box.idle_timeout is None:
        message = (
            "%s: %s; %s has no known idle timeout: measure it and give it as {id: %s, "
            "idle_timeout: S}" % (subject, _said(beat), label, box.id)
        )
        return make_verdict("socket_idle", name, WARN, interval, None, message)
    limit = latest_first_probe(box, margin)
    if interval <= limit:
        message = (
            "%s: kept open by %s: it leaves %s s before %s drops an idle connection at %s s"
            % (
                subject,
                _said(beat),
                box.idle_timeout - interval,
                label,
                box.idle_timeout,
            )
        )
        return make_verdict("socket_idle", name, PASS, interval, limit, message)
    status = FAIL if interval >= box.idle_timeout else WARN
    message = "%s: %s drops an idle connection after %s s, but %s: %s" % (
        subject,
        label,
        box.idle_timeout,
        _said(beat),
        _fix(beat, recommended, limit),
    )
    verdict = make_verdict("socket_idle", name, status, interval, limit, message)
    verdict["advice"] = _advice(beat, recommended or limit)
    return verdict


def _fix(beat, recommended, limit):
    seconds = recommended or limit
    if beat.get("service") == "sshd":
        return "set ClientAliveInterval %s in sshd_config (at most %s s)" % (seconds, limit)
    return "send it every %s s (at most %s s)" % (seconds, limit)


def _advice(beat, seconds):
    if beat.get("service") == "sshd":
        return sshd_advice(seconds, beat.get("count_max") or 3)
    return {
        "service": beat["name"],
        "where": "the service's own heartbeat setting",
        "knob": "heartbeat interval",
        "set": "%s s" % seconds,
        "doc": "",
        "why": "its heartbeat is data and keeps every box open only when it comes before the "
        "smallest idle timeout; declared as %s s" % beat["interval"],
    }

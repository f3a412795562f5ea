# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the socket audit reads on a host, and nothing it judges.

This module_util is private to the netstack.keepalive collection; it may change at any time.

``observe(params)`` dumps the sockets (``_adoption.gather``), counts them, shapes the rows
the filters ask for, names the containers that own namespaces and, when asked, reads sshd's
own heartbeat settings: every fact the verdicts need from the host. The verdicts themselves
are ``_sockets_info.judge``'s. keepalive_sockets_info runs both on the host; the audit's
one-call module runs only this one there and the keepalive_audit action judges on the
controller, so a host compiles none of the policy code (AnsiballZ compiles every module it
imports from source, on every run).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import time

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._netns import resolve_netns
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
    _netns_owner,
    _services,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._sockdiag import (
    STATE_NUMBERS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import is_linux

STATE_CHOICES = sorted(STATE_NUMBERS)
FILTERS = ("units", "ports", "keepalive", "limit")
# The options of keepalive_sockets_info that choose what is read and which rows come back.
GATHER_SPEC = dict(
    states=dict(
        type="list", elements="str", choices=STATE_CHOICES, default=list(_adoption.DEFAULT_STATES)
    ),
    netns=dict(type="list", elements="str", default=[]),
    details=dict(type="bool", default=False),
    units=dict(type="list", elements="str"),
    ports=dict(type="list", elements="int"),
    keepalive=dict(type="str", choices=["enabled", "disabled"]),
    limit=dict(type="int"),
    exact=dict(type="bool", default=True),
)
# What an observation carries for the judge beside the module's own result keys; the judge
# takes them out. ``unfiltered``: the summary before the filters (when they cut it);
# ``crossing``: the summary of the sockets that cross the path; ``sshd``: sshd's settings.
OBSERVED_KEYS = ("unfiltered", "crossing", "sshd")


def check_platform(system=None):
    system = system or sys.platform
    if not is_linux(system):
        raise KeepaliveError(
            "keepalive_sockets_info needs Linux (netlink inet_diag, /proc, pidfd_getfd); "
            "this host runs %s" % system
        )


def check_options(params):
    """The gathering options, before the scan: a bad one is an error naming it, never an
    empty answer."""
    _check_states(params.get("states"))
    for index, item in enumerate(params.get("netns") or (), 1):
        check_netns_entry(index, item)
    for index, pattern in enumerate(params.get("units") or (), 1):
        if not pattern or not pattern.strip():
            raise KeepaliveError(
                "units[%d]=%r: allowed: a non-empty unit or command name (shell pattern)"
                % (index, pattern),
                option="units",
            )
    for port in params.get("ports") or ():
        if not 0 <= port <= 65535:
            raise KeepaliveError(
                "ports: %r is not a TCP port (allowed 0..65535)" % port, option="ports"
            )
    if params.get("limit") is not None and params["limit"] < 0:
        raise KeepaliveError(
            "limit=%r: must be 0 or more (number of socket rows returned)" % params["limit"],
            option="limit",
        )


def _check_states(states):
    if not states:
        raise KeepaliveError(
            "states=%r: give one or more of %s (the default audits established, listen)"
            % (states, ", ".join(STATE_CHOICES)),
            option="states",
        )


def check_netns_entry(index, item):
    """An explicit namespace must exist and be a network namespace (``resolve_netns``)."""
    if not item or not item.strip():
        raise KeepaliveError(
            "netns[%d]=%r: allowed: a name of 'ip netns list' or a path such as "
            "/proc/PID/ns/net (leave netns empty to audit every namespace)" % (index, item),
            option="netns",
        )
    try:
        resolve_netns(item)
    except KeepaliveError as exc:
        raise KeepaliveError("netns[%d]: %s" % (index, exc), option="netns", value=item)


def _shape(gathered, params, want_crossing):
    """``(summary, unfiltered summary, summary of the sockets crossing the path, socket
    fields)``: the summaries require and path checks read, and the socket rows when asked."""
    if not (params.get("details") or any(params.get(name) is not None for name in FILTERS)):
        # The summary alone is counted without building a record per socket.
        summary, crossing = gathered.summaries(crossing=want_crossing)
        return summary, summary, crossing, {}
    records = gathered.records()
    chosen = _adoption.select(
        records, params.get("units"), params.get("ports"), params.get("keepalive")
    )
    summary = _adoption.summary_rows(chosen)
    unfiltered = _adoption.summary_rows(records) if chosen is not records else summary
    crossing = (
        _adoption.summary_rows(_adoption.crossing_the_path(chosen)) if want_crossing else None
    )
    rows = _adoption.socket_rows(chosen, gathered.namespaces, params.get("limit"))
    return summary, unfiltered, crossing, {"sockets": rows, "truncated": len(rows) < len(chosen)}


def attribute_owners(namespaces, read_owners=_netns_owner.read_owners):
    """Give each namespace entry its ``owner`` (``_netns_owner``: the container or pod whose
    processes are in it; None for the host's own and for one no runtime named). A summary
    row reaches it through its ``netns``: the row's keys are the report's too."""
    found = read_owners([entry["inode"] for entry in namespaces.values() if not entry["current"]])
    for entry in namespaces.values():
        entry["owner"] = None if entry["current"] else found.get(entry["inode"])


def read_sshd_settings(rows, read_sshd=_services.read_sshd):
    """``{settings, reason}`` of ``read_sshd`` when a row may be sshd's, else None: sshd is
    asked only on a host where it holds sockets."""
    if not any(_services.may_be_sshd(row["unit"], row["comm"]) for row in rows):
        return None
    settings, reason = read_sshd()
    return {"settings": settings, "reason": reason}


def observe(params, crossing=False, sshd=False, read_sshd=_services.read_sshd):
    """What the host tells for validated gathering ``params`` (``check_options``): the
    module's result keys (``summary``, ``namespaces``, ``degraded``, ``socket_count``, the
    socket rows when asked, ``elapsed``) and those of ``OBSERVED_KEYS`` the judge needs: the
    crossing summary when ``crossing``, sshd's settings when ``sshd``."""
    started = time.time()
    gathered = _adoption.gather(
        params["states"], params.get("netns") or None, exact=params.get("exact", True)
    )
    summary, unfiltered, crossing_rows, socket_fields = _shape(gathered, params, crossing)
    attribute_owners(gathered.namespaces)
    found = {
        "summary": summary,
        "namespaces": gathered.namespaces,
        "degraded": gathered.degraded,
        "socket_count": sum(row["count"] for row in summary),
    }
    found.update(socket_fields)
    if unfiltered is not summary:
        found["unfiltered"] = unfiltered
    if crossing:
        found["crossing"] = crossing_rows
    if sshd:
        found["sshd"] = read_sshd_settings(unfiltered, read_sshd)
    found["elapsed"] = round(time.time() - started, 3)
    return found

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec and result of the keepalive_sockets_info module.

This module_util is private to the netstack.keepalive collection; it may change at any time.

``report(params)`` is the whole module minus AnsibleModule: audit, filter, summarise, check.
It only reads; ``changed`` is always False, so check mode needs nothing special.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import time

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _adoption,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _services,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _netns_owner,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    normalize_require,
    path_verdicts,
    require_verdicts,
    required_heartbeats,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._heartbeat import (
    normalize_heartbeats,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    identify,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation_containers,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._netns import resolve_netns
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._engine import (
    resolve_path,
    resolve_profile,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._sockdiag import (
    STATE_NUMBERS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._verdicts import summarize
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import is_linux

STATE_CHOICES = sorted(STATE_NUMBERS)
FILTERS = ("units", "ports", "keepalive", "limit")

ARGUMENT_SPEC = dict(
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
    require=dict(type="list", elements="raw", default=[]),
    path=dict(type="list", elements="raw", default=[]),
    profile=dict(type="raw"),
    profiles=dict(type="dict"),
    heartbeats=dict(type="list", elements="raw", default=[]),
)


def module_kwargs():
    return dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def check_platform(system=None):
    system = system or sys.platform
    if not is_linux(system):
        raise KeepaliveError(
            "keepalive_sockets_info needs Linux (netlink inet_diag, /proc, pidfd_getfd); "
            "this host runs %s" % system
        )


def _check_params(params):
    """Every option, before the scan: a bad one is an error naming it, never an empty answer."""
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
    normalize_require(params.get("require"))
    normalize_heartbeats(params.get("heartbeats"))
    _check_policy_inputs(params)


def _check_states(states):
    if not states:
        raise KeepaliveError(
            "states=%r: give one or more of %s (the default audits established, listen)"
            % (states, ", ".join(STATE_CHOICES)),
            option="states",
        )


def _check_policy_inputs(params):
    """``path``, ``profile`` and ``profiles`` as the policy engine reads them."""
    try:
        resolve_path(params.get("path") or [])
    except KeepaliveError as exc:
        raise KeepaliveError("path=%r: %s" % (params.get("path"), exc), option="path")
    if params.get("profile") is None and params.get("profiles") is None:
        return
    try:
        resolve_profile(
            {} if params.get("profile") is None else params["profile"], params.get("profiles")
        )
    except KeepaliveError as exc:
        raise KeepaliveError(
            "profile=%r, profiles: %s" % (params.get("profile"), exc), option="profile"
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


def _shape(gathered, params):
    """``(summary, unfiltered summary, summary of the sockets crossing the path, socket
    fields)``: the summaries require and path checks read, and the socket rows when asked."""
    want_path = bool(params.get("path"))
    if not (params.get("details") or any(params.get(name) is not None for name in FILTERS)):
        # The summary alone is counted without building a record per socket.
        summary, crossing = gathered.summaries(crossing=want_path)
        return summary, summary, crossing, {}
    records = gathered.records()
    chosen = _adoption.select(
        records, params.get("units"), params.get("ports"), params.get("keepalive")
    )
    summary = _adoption.summary_rows(chosen)
    unfiltered = _adoption.summary_rows(records) if chosen is not records else summary
    crossing = _adoption.summary_rows(_adoption.crossing_the_path(chosen)) if want_path else None
    rows = _adoption.socket_rows(chosen, gathered.namespaces, params.get("limit"))
    return summary, unfiltered, crossing, {"sockets": rows, "truncated": len(rows) < len(chosen)}


def _heartbeats(params, rows, degraded, read_sshd=_services.read_sshd):
    """Declared heartbeats (``heartbeats``, then ``require`` items), then sshd's own when
    the host has sshd sockets: its effective ClientAliveInterval from ``sshd -T``."""
    found = normalize_heartbeats(params.get("heartbeats")) + required_heartbeats(
        params.get("require")
    )
    if not any(identify(row["unit"], row["comm"]) == "sshd" for row in rows):
        return found
    settings, reason = read_sshd()
    if reason is not None:
        degraded.append(
            "sshd's ClientAlive heartbeat not read (%s): its sockets are judged by "
            "SO_KEEPALIVE; declare it in heartbeats to judge the heartbeat" % reason
        )
        return found
    beat = _services.sshd_heartbeat(settings)
    return found if beat is None else found + [beat]


def attribute_owners(namespaces, read_owners=_netns_owner.read_owners):
    """Give each namespace entry its ``owner`` (``_netns_owner``: the container or pod whose
    processes are in it; None for the host's own and for one no runtime named). A summary
    row reaches it through its ``netns``: the row's keys are the report's too."""
    found = read_owners([entry["inode"] for entry in namespaces.values() if not entry["current"]])
    for entry in namespaces.values():
        entry["owner"] = None if entry["current"] else found.get(entry["inode"])


def report(params):
    """The module result (without ``changed``) for validated ``params``."""
    check_platform()
    _check_params(params)
    started = time.time()
    gathered = _adoption.gather(
        params["states"], params.get("netns") or None, exact=params.get("exact", True)
    )
    summary, unfiltered, crossing, socket_fields = _shape(gathered, params)
    attribute_owners(gathered.namespaces)
    result = {
        "summary": summary,
        "namespaces": gathered.namespaces,
        "degraded": gathered.degraded,
        "socket_count": sum(row["count"] for row in summary),
    }
    result.update(socket_fields)
    checks = []
    heartbeats = []
    if params.get("require") or params.get("path"):
        heartbeats = _heartbeats(params, unfiltered, gathered.degraded)
        result["heartbeats"] = heartbeats
    if params.get("require"):
        checks += require_verdicts(unfiltered, params["require"], params["states"], heartbeats)
    if params.get("path"):
        checks += path_verdicts(
            crossing,
            params["path"],
            params.get("profile"),
            params.get("profiles"),
            namespaces=gathered.namespaces,
            heartbeats=heartbeats,
            container_advice=_remediation_containers.container_advice,
        )
    if params.get("path") or params.get("profile") is not None:
        checks += _remediation_containers.namespace_verdicts(
            gathered.namespaces,
            params.get("path") or [],
            params.get("profile"),
            params.get("profiles"),
        )
    if checks:
        result["verdicts"] = checks
        result["verdict_summary"] = summarize(checks)
    result["elapsed"] = round(time.time() - started, 3)
    return result

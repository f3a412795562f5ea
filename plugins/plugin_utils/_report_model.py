# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report document (report.json): host reports in, one stable document out.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
Pure Python, no I/O. docs/report.md is the schema's reference; ``SCHEMA_VERSION`` changes only
when a key changes meaning or disappears (new keys may appear within a version).

Input is the host fact ``tcp_keepalive_report`` (host report schema 1, built by
``module_utils/_host_report.py``), one dict per host. Only ``host`` is required; every other
key is optional so that a half-finished or older host report still shows up in the report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)

SCHEMA_VERSION = 1
HOST_SCHEMAS = (1,)
STATUSES = ("pass", "warn", "fail")  # best to worst
STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}
VALUE_NAMES = ("time", "intvl", "probes")
VERDICT_KEYS = ("check", "subject", "status", "value", "limit", "message")
# Keys of list entries that the renderers read; missing ones become None.
BOX_KEYS = ("id", "product", "layer", "idle_timeout", "origin", "source")
SHADOW_KEYS = ("file", "line", "key", "value")
SOCKET_ROW_KEYS = (
    "netns", "unit", "comm", "state", "keepalive", "idle", "intvl", "cnt", "source", "count",
)  # fmt: skip
# Optional host keys and the value a missing one stands for.
HOST_DEFAULTS = {
    "schema": 1,
    "mode": None,
    "check_mode": False,
    "profile": None,
    "path": [],
    "intended": None,
    "provenance": None,
    "derivation_error": None,
    "runtime": None,
    "after": None,
    "boot_values": {},
    "shadowed_by": [],
    "file": None,
    "changed": False,
    "adoption": None,
    "verdicts": [],
    "detection_seconds": None,
}


def build_report(hosts, generated_at=None):
    """The fleet document: totals, per-check counts, the problems first, hosts by name.

    ``hosts`` is a list of host reports; ``generated_at`` a timezone-aware datetime (now, in
    UTC, when None). Raises ``KeepaliveError`` naming the host and key of bad input.
    """
    if not isinstance(hosts, (list, tuple)):
        raise KeepaliveError(
            "hosts: expected a list of host reports, got %s" % type(hosts).__name__,
            option="hosts",
        )
    checked = [normalize_host(item, index) for index, item in enumerate(hosts)]
    _refuse_duplicates(checked)
    checked.sort(key=lambda item: item["host"])
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _timestamp(generated_at),
        "status": worst([item["status"] for item in checked]),
        "totals": _host_totals(checked),
        "verdict_totals": _verdict_totals(checked),
        "checks": _check_counts(checked),
        "problems": problems(checked),
        "hosts": checked,
    }


def worst(statuses):
    """The worst of ``statuses``; ``pass`` for none (an empty fleet breaks nothing)."""
    return max(statuses, key=STATUS_RANK.__getitem__, default="pass")


def normalize_host(item, index=0):
    """A checked copy of one host report with every documented key present."""
    where = "hosts[%d]" % index
    if not isinstance(item, dict):
        raise KeepaliveError(
            "%s: expected a host report (a dict), got %s" % (where, type(item).__name__),
            option="hosts",
        )
    host = item.get("host")
    if not isinstance(host, str) or not host:
        raise KeepaliveError("%s: 'host' must be a non-empty string, got %r" % (where, host))
    where = "host %s" % host
    if item.get("schema", 1) not in HOST_SCHEMAS:
        raise KeepaliveError(
            "%s: host report schema %r is not supported (supported: %s)"
            % (where, item.get("schema"), ", ".join(str(v) for v in HOST_SCHEMAS)),
        )
    result = dict(HOST_DEFAULTS)
    result.update((key, value) for key, value in item.items() if value is not None)
    result["host"] = host
    result["path"] = _entries(result["path"], where, "path", BOX_KEYS)
    for box in result["path"]:
        # Host report path entries carry `product`; the policy's own dicts say `name`.
        box["product"] = box["product"] or box.get("name")
    result["shadowed_by"] = _entries(result["shadowed_by"], where, "shadowed_by", SHADOW_KEYS)
    result["boot_values"] = _boot_values(result["boot_values"], where)
    result["adoption"] = _adoption(result["adoption"], where)
    for key in ("intended", "runtime", "after"):
        result[key] = _values(result[key], where, key)
    result["verdicts"] = [
        _verdict(verdict, where, number)
        for number, verdict in enumerate(_list_of_dicts(result["verdicts"], where, "verdicts"))
    ]
    # Counts and status follow the verdicts, so the report can never disagree with itself.
    result["counts"] = count_statuses(result["verdicts"])
    result["status"] = worst([verdict["status"] for verdict in result["verdicts"]])
    if result["detection_seconds"] is None and result["after"] is not None:
        result["detection_seconds"] = detection_seconds(result["after"])
    return result


def missing_host(host, reason):
    """The report of a host that set no host report (unreachable, failed early): a fail."""
    return {
        "host": host,
        "verdicts": [{
            "check": "report_present", "subject": host, "status": "fail", "value": None,
            "limit": None, "message": "no host report: %s" % reason,
        }],
    }  # fmt: skip


def detection_seconds(values):
    """How long until a dead peer is noticed: time + intvl x probes (None if unknown)."""
    if not values or any(not isinstance(values.get(name), int) for name in VALUE_NAMES):
        return None
    return values["time"] + values["intvl"] * values["probes"]


def count_statuses(verdicts):
    counts = dict.fromkeys(STATUSES, 0)
    for verdict in verdicts:
        counts[verdict["status"]] += 1
    return counts


def problems(hosts):
    """Every fail, then every warn, across the fleet: what a reader must see first."""
    found = [
        {"host": item["host"], **verdict}
        for item in hosts
        for verdict in item["verdicts"]
        if verdict["status"] != "pass"
    ]
    found.sort(key=lambda p: (-STATUS_RANK[p["status"]], p["host"], p["check"], p["subject"]))
    return found


def _refuse_duplicates(hosts):
    seen = set()
    for item in hosts:
        if item["host"] in seen:
            raise KeepaliveError(
                "host %s: reported twice; each host must appear once" % item["host"],
                option="hosts",
            )
        seen.add(item["host"])


def _list_of_dicts(value, where, key):
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, dict) for v in value):
        raise KeepaliveError("%s: %r must be a list of dicts, got %r" % (where, key, value))
    return [dict(entry) for entry in value]


def _entries(value, where, key, keys):
    """A list of dicts, each with ``keys`` present (None when missing) and its other keys."""
    entries = _list_of_dicts(value, where, key)
    for entry in entries:
        for name in keys:
            entry.setdefault(name, None)
    return entries


def _boot_values(value, where):
    """``{name: {value, source}}``; a bare number is accepted as a value of unknown source."""
    if not isinstance(value, dict):
        raise KeepaliveError("%s: 'boot_values' must be a dict, got %r" % (where, value))
    result = {}
    for name in VALUE_NAMES:
        entry = value.get(name)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            entry = {"value": entry}
        result[name] = {"value": entry.get("value"), "source": entry.get("source")}
    return result


def _adoption(value, where):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise KeepaliveError("%s: 'adoption' must be a dict or null, got %r" % (where, value))
    result = dict(value)
    result["summary"] = _entries(
        value.get("summary") or [], where, "adoption.summary", SOCKET_ROW_KEYS
    )
    # keepalive_sockets_info gives {"net:[inode]": {sysctls, names, sockets}}; kept as given.
    namespaces = value.get("namespaces") or {}
    if not isinstance(namespaces, (dict, list)):
        raise KeepaliveError(
            "%s: 'adoption.namespaces' must be a dict or a list, got %r" % (where, namespaces)
        )
    result["namespaces"] = namespaces
    result["degraded"] = list(value.get("degraded") or [])
    return result


def _values(value, where, key):
    """``{time, intvl, probes}`` of integers, or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or any(
        not isinstance(value.get(name), int) or isinstance(value.get(name), bool)
        for name in VALUE_NAMES
    ):
        raise KeepaliveError(
            "%s: %r must be {time, intvl, probes} of integers or null, got %r" % (where, key, value)
        )
    return {name: value[name] for name in VALUE_NAMES}


def _verdict(verdict, where, number):
    status = verdict.get("status")
    if status not in STATUSES:
        raise KeepaliveError(
            "%s: verdicts[%d].status is %r; allowed: %s"
            % (where, number, status, ", ".join(STATUSES))
        )
    check = verdict.get("check")
    if not isinstance(check, str) or not check:
        raise KeepaliveError(
            "%s: verdicts[%d].check must be a non-empty string, got %r" % (where, number, check)
        )
    result = {key: verdict.get(key) for key in VERDICT_KEYS}
    result["subject"] = "" if result["subject"] is None else str(result["subject"])
    result["message"] = "" if result["message"] is None else str(result["message"])
    return result


def _host_totals(hosts):
    totals = {"hosts": len(hosts)}
    totals.update(count_statuses(hosts))
    totals["changed"] = sum(1 for item in hosts if item["changed"])
    return totals


def _verdict_totals(hosts):
    totals = dict.fromkeys(STATUSES, 0)
    for item in hosts:
        for status in STATUSES:
            totals[status] += item["counts"][status]
    return totals


def _check_counts(hosts):
    """``{check: {pass, warn, fail}}`` over every verdict of every host, checks by name."""
    checks = {}
    for item in hosts:
        for verdict in item["verdicts"]:
            counts = checks.setdefault(verdict["check"], dict.fromkeys(STATUSES, 0))
            counts[verdict["status"]] += 1
    return dict(sorted(checks.items()))


def _timestamp(generated_at):
    when = generated_at or datetime.datetime.now(datetime.UTC)
    if when.tzinfo is None:
        raise KeepaliveError("generated_at must carry a timezone, got %s" % when.isoformat())
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

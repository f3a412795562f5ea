# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report document (report.json): host reports in, one stable document out.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
Pure Python, no I/O. docs/report.md is the schema's reference; ``SCHEMA_VERSION`` changes only
when a key changes meaning or disappears (new keys may appear within a version).

Input is the host fact ``tcp_keepalive_report`` (host report schema 1, built by
``module_utils/_host_report.py``), one dict per host. Only ``host`` is required; every other
key is optional so that a half-finished or older host report still shows up in the report,
but a key that is there is checked (``_report_schema.py``). A host the audit could not see
(no report, or no verdicts) is ``unknown``, never ``pass``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    ADVICE_KEYS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    PASS,
    REPORT_STATUSES,
    STATUS_RANK,
    SUMMARY_KEYS,
    UNKNOWN,
    VALUE_NAMES,
    VERDICT_KEYS,
    detection_time,
    is_integer,
    make_verdict,
    worst_status,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._schema import (
    check_host_report,
    shown,
)

SCHEMA_VERSION = 1
UNSEEN_CHECK = "report_present"
# How the report_present verdict of a host without a report begins; the reason follows.
UNSEEN_PREFIX = "no host report: "
# Keys of list entries that the renderers read; missing ones become None.
BOX_KEYS = ("id", "product", "layer", "idle_timeout", "origin", "source")
SHADOW_KEYS = ("file", "line", "key", "value")
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
    "detection_idle_seconds": None,
    "detection_busy_seconds": None,
    "retries2": None,
    "sockets_retransmitting": None,
    "sockets_probing": None,
}


def build_report(hosts, generated_at=None, unseen=None):
    """The fleet document: totals, per-check counts, the problems first, hosts by name.

    ``hosts`` is a list of host reports; ``unseen`` maps the name of a host without a report
    to the reason (it is ``unknown``); ``generated_at`` a timezone-aware datetime (now, in
    UTC, when None). Every host report is checked before anything is computed; bad input
    raises ``KeepaliveError`` naming the host, the key, the value and what is allowed.
    """
    if not isinstance(hosts, (list, tuple)):
        raise KeepaliveError(
            "hosts: expected a list of host reports, got %s" % shown(hosts), option="hosts"
        )
    checked = [normalize_host(item, (number, len(hosts))) for number, item in enumerate(hosts, 1)]
    checked += [unseen_host(name, reason) for name, reason in sorted((unseen or {}).items())]
    _refuse_duplicates(checked)
    checked.sort(key=lambda item: item["host"])
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _timestamp(generated_at),
        "status": worst_status([item["status"] for item in checked]),
        "totals": _host_totals(checked),
        "verdict_totals": _verdict_totals(checked),
        "checks": _check_counts(checked),
        "problems": problem_verdicts(checked),
        "hosts": checked,
    }


def merge_slices(slices):
    """``(host reports, unseen)`` of several runs (slices of one fleet), for ``build_report``.

    ``slices`` is a list of ``(source, data)``: ``source`` names where ``data`` came from (a
    file), ``data`` is a fleet document (``report.json``, with ``schema_version`` and
    ``hosts``) or one host report (a dict with ``host``, as a host writes its own fact).
    A fleet document's host entries are host reports themselves (``build_report`` keeps every
    key and recomputes status and counts) once the ``report_present`` verdict the fleet report
    added is taken off (a host without a report goes back to ``unseen`` with its reason), so
    merging the slices of a run gives the document of one run over all of them. A host in two
    slices is refused, naming both sources: slices of one fleet do not overlap.
    """
    found, unseen, origin = [], {}, {}
    for source, data in slices:
        for item in _slice_hosts(source, data):
            name = item.get("host") if isinstance(item, dict) else None
            if name in origin:
                raise KeepaliveError(
                    "merge: host %s is in %s and in %s; the slices of one fleet report must "
                    "not overlap (give each run's output once)" % (name, origin[name], source),
                    option="merge",
                )
            if name is not None:
                origin[name] = source
            item, reason = _as_host_report(item)
            if reason is None:
                found.append(item)
            else:
                unseen[name] = reason
    return found, unseen


def _as_host_report(item):
    """``(host report, None)`` for a fleet report's entry, without the ``report_present``
    verdict the fleet report added; ``(None, reason)`` for a host that had no report."""
    if not isinstance(item, dict) or not isinstance(item.get("verdicts"), list):
        return item, None
    added = [v for v in item["verdicts"] if isinstance(v, dict) and v.get("check") == UNSEEN_CHECK]
    if not added:
        return item, None
    message = added[0].get("message") or ""
    if message.startswith(UNSEEN_PREFIX):
        return None, message[len(UNSEEN_PREFIX) :]
    return dict(item, verdicts=[v for v in item["verdicts"] if v not in added]), None


def _slice_hosts(source, data):
    if isinstance(data, dict) and "schema_version" in data:
        if data["schema_version"] != SCHEMA_VERSION or not isinstance(data.get("hosts"), list):
            raise KeepaliveError(
                "merge: %s is not a fleet report of schema_version %d with a list of hosts "
                "(schema_version %s)" % (source, SCHEMA_VERSION, shown(data["schema_version"])),
                option="merge",
            )
        return data["hosts"]
    if isinstance(data, dict) and "host" in data:
        return [data]
    raise KeepaliveError(
        "merge: %s is neither a fleet report (report.json, with schema_version and hosts) nor "
        "a host report (a dict with host), got %s" % (source, shown(data)),
        option="merge",
    )


def normalize_host(item, position=(1, 1)):
    """A checked copy of one host report with every documented key present.

    ``position`` (number, of how many) only describes a report that has no ``host`` name.
    """
    host = _host_name(item, position)
    where = "host %s" % host
    check_host_report(item, where)
    result = dict(HOST_DEFAULTS)
    result.update((key, value) for key, value in item.items() if value is not None)
    result["host"] = host
    result["path"] = _entries(result["path"], BOX_KEYS)
    for box in result["path"]:
        # Host report path entries carry `product`; the policy's own dicts say `name`.
        box["product"] = box["product"] or box.get("name")
    result["shadowed_by"] = _entries(result["shadowed_by"], SHADOW_KEYS)
    result["boot_values"] = _boot_values(result["boot_values"])
    result["adoption"] = _adoption(result["adoption"])
    for key in ("intended", "runtime", "after"):
        if result[key] is not None:
            given = result[key]
            result[key] = {name: given[name] for name in VALUE_NAMES}
            if key == "intended" and given.get("retries2") is not None:
                result[key]["retries2"] = given["retries2"]
    result["verdicts"] = [_verdict(verdict) for verdict in result["verdicts"]]
    if not result["verdicts"]:
        result["verdicts"] = [
            _unknown_verdict(
                host, "the host report has no verdicts: nothing on the host was judged"
            )
        ]
    _set_status(result)
    for key in ("detection_seconds", "detection_idle_seconds"):
        if result[key] is None and result["after"] is not None:
            result[key] = detection_seconds(result["after"])
    return result


def unseen_host(host, reason):
    """The entry of a host that set no host report (unreachable, failed early): unknown."""
    if not isinstance(host, str) or not host:
        raise KeepaliveError(
            "play_hosts: a host name must be a non-empty string, got %s" % shown(host),
            option="play_hosts",
        )
    result = dict(HOST_DEFAULTS, host=host)
    result["verdicts"] = [_unknown_verdict(host, UNSEEN_PREFIX + reason)]
    _set_status(result)
    return result


def detection_seconds(values):
    """How long until a dead peer is noticed (``detection_time``); None if unknown."""
    if not values or any(not is_integer(values.get(name)) for name in VALUE_NAMES):
        return None
    return detection_time(values)


def count_statuses(verdicts):
    counts = dict.fromkeys(REPORT_STATUSES, 0)
    for verdict in verdicts:
        counts[verdict["status"]] += 1
    return counts


def problem_verdicts(hosts):
    """Every verdict that did not pass, with its host: every fail, then every unknown, then
    every warn, what a reader must see first (the document's ``problems``; a host report's
    ``problems`` are one line per verdict instead)."""
    found = [
        {"host": item["host"], **verdict}
        for item in hosts
        for verdict in item["verdicts"]
        if verdict["status"] != PASS
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


def _host_name(item, position):
    if not isinstance(item, dict):
        raise KeepaliveError(
            "hosts: a host report must be a dict, got %s (number %d of %d in the list)"
            % ((shown(item),) + tuple(position)),
            option="hosts",
        )
    host = item.get("host")
    if not isinstance(host, str) or not host:
        raise KeepaliveError(
            "hosts: 'host' (the inventory name a report is about) must be a non-empty string, "
            "got %s in the report with keys %s (number %d of %d in the list)"
            % ((shown(host), ", ".join(sorted(str(k) for k in item)) or "none") + tuple(position)),
            option="hosts",
        )
    return host


def _unknown_verdict(host, message):
    return make_verdict(UNSEEN_CHECK, host, UNKNOWN, None, None, message)


def _set_status(result):
    # Counts and status follow the verdicts, so the report can never disagree with itself.
    result["counts"] = count_statuses(result["verdicts"])
    result["status"] = worst_status([verdict["status"] for verdict in result["verdicts"]])


def _entries(value, keys):
    """Copies of the dicts in ``value``, each with ``keys`` present (None when missing)."""
    entries = [dict(entry) for entry in value]
    for entry in entries:
        for name in keys:
            entry.setdefault(name, None)
    return entries


def _boot_values(value):
    """``{name: {value, source}}``; a bare number is accepted as a value of unknown source."""
    result = {}
    for name in VALUE_NAMES:
        entry = value.get(name)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            entry = {"value": entry}
        result[name] = {"value": entry.get("value"), "source": entry.get("source")}
    return result


def _adoption(value):
    if value is None:
        return None
    result = dict(value)
    result["summary"] = _entries(value.get("summary") or [], SUMMARY_KEYS)
    # keepalive_sockets_info gives {"net:[inode]": {sysctls, names, sockets}}; kept as given.
    result["namespaces"] = value.get("namespaces") or {}
    result["degraded"] = list(value.get("degraded") or [])
    return result


def _verdict(verdict):
    result = {key: verdict.get(key) for key in VERDICT_KEYS}
    result["subject"] = "" if result["subject"] is None else str(result["subject"])
    result["message"] = "" if result["message"] is None else str(result["message"])
    if isinstance(verdict.get("advice"), dict):
        # How to fix a failing socket group (keepalive_sockets_info); only where given.
        result["advice"] = {key: str(verdict["advice"].get(key) or "") for key in ADVICE_KEYS}
    return result


def _host_totals(hosts):
    totals = {"hosts": len(hosts)}
    totals.update(count_statuses(hosts))
    totals["changed"] = sum(1 for item in hosts if item["changed"])
    return totals


def _verdict_totals(hosts):
    totals = dict.fromkeys(REPORT_STATUSES, 0)
    for item in hosts:
        for status in REPORT_STATUSES:
            totals[status] += item["counts"][status]
    return totals


def _check_counts(hosts):
    """``{check: {pass, warn, fail, unknown}}`` over every verdict of every host, by name."""
    checks = {}
    for item in hosts:
        for verdict in item["verdicts"]:
            counts = checks.setdefault(verdict["check"], dict.fromkeys(REPORT_STATUSES, 0))
            counts[verdict["status"]] += 1
    return dict(sorted(checks.items()))


def _timestamp(generated_at):
    when = generated_at or datetime.datetime.now(datetime.UTC)
    if when.tzinfo is None:
        raise KeepaliveError("generated_at must carry a timezone, got %s" % when.isoformat())
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

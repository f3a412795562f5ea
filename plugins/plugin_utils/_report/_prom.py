# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's Prometheus textfile (``<host>.prom``) for node_exporter's textfile collector.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
Text exposition format: every family with ``# HELP`` and ``# TYPE`` once, every sample with
the label ``host``; a family without samples is left out rather than reported as 0.
docs/report.md lists the metrics.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
import time

from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    REPORT_STATUSES,
    SYSCTL_NAMES,
    VALUE_NAMES,
)

PROM_PREFIX = "netstack_keepalive_"
# unknown (the audit could not see the host) is above fail so that `status > 0` and
# `status >= 2` alerts both fire for it.
STATUS_CODE = {"pass": 0, "warn": 1, "fail": 2, "unknown": 3}


def label_text(value):
    """A value as text for a label or a property: booleans lower-case, None empty, ranges a..b."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "..".join(str(v) for v in value) if len(value) == 2 else str(list(value))
    return str(value)


def prom_file_name(host):
    """``<host>.prom`` with anything but letters, digits, dot, dash and underscore as _."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", host) + ".prom"


def render_prometheus(host, generated_at=None):
    """The node_exporter textfile of one host: values, socket counts, verdict counts."""
    metrics = _PromFile(host["host"])
    seconds = {"time": "time_seconds", "intvl": "intvl_seconds", "probes": "probes"}
    helps = {
        "time": "Idle seconds before the first keepalive probe",
        "intvl": "Seconds between keepalive probes",
        "probes": "Unanswered probes before the connection is dropped",
    }
    for name in VALUE_NAMES:
        text = "%s (%s). kind: runtime, after, boot, intended." % (helps[name], SYSCTL_NAMES[name])
        metric = metrics.family(seconds[name], "gauge", text)
        for kind in ("runtime", "after", "intended"):
            if host[kind]:
                metric.add({"kind": kind}, host[kind][name])
        boot = (host["boot_values"] or {}).get(name) or {}
        if isinstance(boot.get("value"), int):
            metric.add({"kind": "boot"}, boot["value"])
    _prom_boot_sources(metrics, host)
    detection = metrics.family(
        "detection_seconds",
        "gauge",
        "Worst-case seconds to notice a dead idle peer: time + intvl x probes after this run.",
    )
    if host["detection_seconds"] is not None:
        detection.add({}, host["detection_seconds"])
    busy = metrics.family(
        "detection_busy_seconds",
        "gauge",
        "Seconds to notice a dead peer with data in flight (keepalive does not probe then): "
        "net.ipv4.tcp_retries2 (15 when not read) or the profile's TCP_USER_TIMEOUT.",
    )
    if host.get("detection_busy_seconds") is not None:
        busy.add({}, host["detection_busy_seconds"])
    _prom_sockets(metrics, host)
    stalled = (
        ("retransmitting", "retransmitting unacknowledged data to a peer that does not answer"),
        ("probing", "sending keepalive or zero-window probes a peer does not answer"),
    )
    for name, what in stalled:
        # Unknown (no sockets audit, or an older module) is left out, never reported as 0.
        value = host.get("sockets_" + name)
        family = metrics.family(
            "sockets_" + name,
            "gauge",
            "TCP sockets %s at the audit (suspect dead peers)." % what,
        )
        if value is not None:
            family.add({}, value)
    verdicts = metrics.family("verdicts", "gauge", "Verdicts of the last run by status.")
    for status in REPORT_STATUSES:
        verdicts.add({"status": status}, host["counts"][status])
    metrics.family(
        "status",
        "gauge",
        "Worst verdict of the last run: 0 pass, 1 warn, 2 fail, 3 unknown (no report).",
    ).add({}, STATUS_CODE[host["status"]])
    metrics.family("shadowed_entries", "gauge", "sysctl entries that override ours at boot.").add(
        {}, len(host["shadowed_by"])
    )
    if generated_at:
        metrics.family(
            "report_timestamp_seconds", "gauge", "When the report was generated (Unix time)."
        ).add({}, _unix_time(generated_at))
    return metrics.text()


def _prom_boot_sources(metrics, host):
    """Where each boot value comes from, as an info metric (one series per value)."""
    info = metrics.family(
        "boot_source_info",
        "gauge",
        "The file:line that gives each keepalive sysctl its value at boot (always 1).",
    )
    for name, boot in sorted((host["boot_values"] or {}).items()):
        if boot.get("source"):
            info.add({"param": name, "source": boot["source"]}, 1)


def _prom_sockets(metrics, host):
    sockets = metrics.family(
        "sockets",
        "gauge",
        "TCP sockets by namespace, unit, command, state and keepalive (true, false, unknown).",
    )
    totals = {}
    for row in (host["adoption"] or {}).get("summary") or []:
        keepalive = {True: "true", False: "false"}.get(row.get("keepalive"), "unknown")
        labels = (
            ("netns", label_text(row.get("netns"))),
            ("unit", label_text(row.get("unit"))),
            ("comm", label_text(row.get("comm"))),
            ("state", label_text(row.get("state"))),
            ("keepalive", keepalive),
        )
        totals[labels] = totals.get(labels, 0) + (row.get("count") or 0)
    for labels, count in sorted(totals.items()):
        sockets.add(dict(labels), count)


def _unix_time(stamp):
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


class _PromFile(object):
    """Metric families in the text exposition format, each with HELP and TYPE once."""

    def __init__(self, host):
        self.host = host
        self.families = []

    def family(self, name, kind, help_text):
        family = _PromFamily(PROM_PREFIX + name, kind, help_text, self.host)
        self.families.append(family)
        return family

    def text(self):
        return "".join(family.text() for family in self.families if family.samples)


class _PromFamily(object):
    def __init__(self, name, kind, help_text, host):
        self.name, self.kind, self.help, self.host = name, kind, help_text, host
        self.samples = []

    def add(self, labels, value):
        self.samples.append((dict(labels, host=self.host), value))

    def text(self):
        lines = [
            "# HELP %s %s" % (self.name, self.help.replace("\\", "\\\\").replace("\n", "\\n")),
            "# TYPE %s %s" % (self.name, self.kind),
        ]
        for labels, value in self.samples:
            pairs = ",".join(
                '%s="%s"' % (key, _prom_label(val)) for key, val in sorted(labels.items())
            )
            lines.append("%s{%s} %s" % (self.name, pairs, value))
        return "\n".join(lines) + "\n"


def _prom_label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

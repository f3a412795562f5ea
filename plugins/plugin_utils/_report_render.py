# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the fleet document to its files and write them atomically.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
It runs on the controller only (Jinja2 comes with ansible-core there).

- ``report.json``: the document of ``_report_model.build_report`` as it is.
- ``report.md`` and ``report.html``: Jinja2 templates in ``report_templates/`` next to this
  file (package data, so an installed collection finds them). The HTML is self-contained:
  inline CSS and SVG, no script, nothing fetched.
- ``junit.xml``: one testcase per host x verdict (check and subject), built with ElementTree
  so that any message is escaped correctly.
- ``<host>.prom``: node_exporter textfile collector format, one file per host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET

import jinja2

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report_chart import (
    fleet_chart,
    host_chart,
    human_seconds,
)

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_templates")
FORMATS = ("json", "markdown", "html", "junit", "prometheus")
DEFAULT_FORMATS = ("json", "markdown", "html", "junit")
FILE_NAMES = {
    "json": "report.json",
    "markdown": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
}
PROM_PREFIX = "netstack_keepalive_"
STATUS_CODE = {"pass": 0, "warn": 1, "fail": 2}


def write_report(doc, dest, formats=DEFAULT_FORMATS):
    """Write the chosen ``formats`` of ``doc`` into the folder ``dest``; return the paths.

    Every file is written to a temporary name in ``dest`` and renamed over the old one, so a
    reader (a CI job, node_exporter) sees the old file or the new one, never half of one.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise KeepaliveError(
            "formats: %s not known; allowed: %s" % (", ".join(unknown), ", ".join(FORMATS)),
            option="formats",
        )
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise KeepaliveError("dest=%s: cannot create the folder: %s" % (dest, exc), option="dest")
    renderers = {
        "json": render_json,
        "markdown": render_markdown,
        "html": render_html,
        "junit": render_junit,
    }
    paths = []
    for name in FORMATS:
        if name not in formats:
            continue
        if name == "prometheus":
            for host in doc["hosts"]:
                path = os.path.join(dest, prom_file_name(host["host"]))
                paths.append(write_atomic(path, render_prometheus(host, doc["generated_at"])))
            continue
        paths.append(write_atomic(os.path.join(dest, FILE_NAMES[name]), renderers[name](doc)))
    return paths


def write_atomic(path, text):
    """Write ``text`` to ``path`` by temp file + fsync + rename; mode 0644 minus the umask."""
    folder = os.path.dirname(path) or "."
    try:
        handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o644 & ~umask)
            os.replace(temp, path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise KeepaliveError("cannot write %s: %s" % (path, exc), option="dest", path=path)
    return path


def render_json(doc):
    return json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"


def render_markdown(doc):
    return _environment(autoescape=False).get_template("report.md.j2").render(_view(doc))


def render_html(doc):
    return _environment(autoescape=True).get_template("report.html.j2").render(_view(doc))


def render_junit(doc):
    """JUnit XML: a testsuite per host, a testcase per verdict; warn passes with a note."""
    suites = ET.Element("testsuites", name="netstack.keepalive", timestamp=doc["generated_at"])
    totals = {"tests": 0, "failures": 0}
    for host in doc["hosts"]:
        cases = host["verdicts"] or [_no_verdicts(host)]
        suite = ET.SubElement(
            suites, "testsuite", name=host["host"], tests=str(len(cases)),
            failures=str(host["counts"]["fail"]), errors="0", skipped="0",
            timestamp=doc["generated_at"],
        )  # fmt: skip
        _properties(suite, host)
        for verdict in cases:
            _testcase(suite, host["host"], verdict)
        totals["tests"] += len(cases)
        totals["failures"] += host["counts"]["fail"]
    suites.set("tests", str(totals["tests"]))
    suites.set("failures", str(totals["failures"]))
    suites.set("errors", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _no_verdicts(host):
    return {
        "check": "report", "subject": host["host"], "status": "pass", "value": None,
        "limit": None, "message": "the host report has no verdicts",
    }  # fmt: skip


def _properties(suite, host):
    props = ET.SubElement(suite, "properties")
    for name in ("profile", "mode", "check_mode", "status", "detection_seconds"):
        ET.SubElement(props, "property", name=name, value=_text(host[name]))


def _testcase(suite, host, verdict):
    name = verdict["check"]
    if verdict["subject"]:
        name = "%s [%s]" % (name, verdict["subject"])
    case = ET.SubElement(suite, "testcase", classname=host, name=name, time="0")
    detail = "%s (value %s, limit %s)" % (
        verdict["message"], _text(verdict["value"]), _text(verdict["limit"]),
    )  # fmt: skip
    if verdict["status"] == "fail":
        failure = ET.SubElement(case, "failure", message=verdict["message"], type="fail")
        failure.text = detail
    else:
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="status", value=verdict["status"])
        ET.SubElement(case, "system-out").text = "%s: %s" % (verdict["status"].upper(), detail)


def _text(value):
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
        "time": "Idle seconds before the first keepalive probe (net.ipv4.tcp_keepalive_time).",
        "intvl": "Seconds between keepalive probes (net.ipv4.tcp_keepalive_intvl).",
        "probes": "Unanswered probes before the connection is dropped "
        "(net.ipv4.tcp_keepalive_probes).",
    }
    for name in ("time", "intvl", "probes"):
        metric = metrics.family(seconds[name], "gauge", helps[name] + " kind: runtime, "
                                "after, boot, intended.")  # fmt: skip
        for kind in ("runtime", "after", "intended"):
            if host[kind]:
                metric.add({"kind": kind}, host[kind][name])
        boot = (host["boot_values"] or {}).get(name) or {}
        if isinstance(boot.get("value"), int):
            metric.add({"kind": "boot"}, boot["value"])
    _prom_boot_sources(metrics, host)
    detection = metrics.family(
        "detection_seconds", "gauge",
        "Worst-case seconds to notice a dead idle peer: time + intvl x probes after this run.",
    )  # fmt: skip
    if host["detection_seconds"] is not None:
        detection.add({}, host["detection_seconds"])
    _prom_sockets(metrics, host)
    verdicts = metrics.family("verdicts", "gauge", "Verdicts of the last run by status.")
    for status in ("pass", "warn", "fail"):
        verdicts.add({"status": status}, host["counts"][status])
    metrics.family("status", "gauge", "Worst verdict of the last run: 0 pass, 1 warn, 2 fail.").add(
        {}, STATUS_CODE[host["status"]]
    )
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
        "boot_source_info", "gauge",
        "The file:line that gives each keepalive sysctl its value at boot (always 1).",
    )  # fmt: skip
    for name, boot in sorted((host["boot_values"] or {}).items()):
        if boot.get("source"):
            info.add({"param": name, "source": boot["source"]}, 1)


def _prom_sockets(metrics, host):
    sockets = metrics.family(
        "sockets", "gauge",
        "TCP sockets by namespace, unit, command, state and keepalive (true, false, unknown).",
    )  # fmt: skip
    totals = {}
    for row in (host["adoption"] or {}).get("summary") or []:
        keepalive = {True: "true", False: "false"}.get(row.get("keepalive"), "unknown")
        labels = (
            ("netns", _text(row.get("netns"))),
            ("unit", _text(row.get("unit"))),
            ("comm", _text(row.get("comm"))),
            ("state", _text(row.get("state"))),
            ("keepalive", keepalive),
        )
        totals[labels] = totals.get(labels, 0) + (row.get("count") or 0)
    for labels, count in sorted(totals.items()):
        sockets.add(dict(labels), count)


def _unix_time(stamp):
    import calendar
    import time

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


# --- the view the templates read -------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _environment(autoescape):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["human"] = human_seconds
    env.filters["md"] = _md_cell
    env.filters["text"] = _text
    env.filters["values"] = _values_text
    env.filters["anchor"] = host_anchor
    return env


def _view(doc):
    glance = fleet_chart(doc["hosts"])
    hosts = [_host_view(host) for host in doc["hosts"]]
    texts = {row["host"]: row["text"] for row in (glance or {}).get("rows", [])}
    for host in hosts:
        host["glance"] = texts.get(host["data"]["host"], "–")
    return {"doc": doc, "hosts": hosts, "fleet_chart": glance}


def _host_view(host):
    layer4 = [
        box["idle_timeout"]
        for box in host["path"]
        if box.get("layer") == 4 and isinstance(box.get("idle_timeout"), int)
    ]
    order = {"fail": 0, "warn": 1, "pass": 2}
    return {
        "data": host,
        "anchor": host_anchor(host["host"]),
        "chart": host_chart(host),
        "smallest_timeout": min(layer4) if layer4 else None,
        "verdicts": sorted(host["verdicts"], key=lambda v: order[v["status"]]),
        "path_text": " → ".join(_box_text(box) for box in host["path"]) or "none given",
    }


def host_anchor(name):
    """The HTML id of a host's section: ``host-`` and the name with odd characters as -."""
    return "host-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _box_text(box):
    name = box.get("id") or box.get("name") or "?"
    timeout = box.get("idle_timeout")
    timeout_text = "no idle timeout" if timeout is None else human_seconds(timeout)
    return "%s (L%s, %s)" % (name, box.get("layer") or "?", timeout_text)


def _values_text(values):
    if not values:
        return "–"
    return "%s / %s / %s" % (values["time"], values["intvl"], values["probes"])


def _md_cell(value):
    """A Markdown table cell: pipes escaped, one line."""
    return _text(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")

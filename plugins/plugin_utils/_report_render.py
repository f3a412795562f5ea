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
- ``<host>.prom``: node_exporter textfile collector format, one file per host
  (``_report_prom.py``).
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
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report_prom import (
    label_text,
    prom_file_name,
    render_prometheus,
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
        ET.SubElement(props, "property", name=name, value=label_text(host[name]))


def _testcase(suite, host, verdict):
    name = verdict["check"]
    if verdict["subject"]:
        name = "%s [%s]" % (name, verdict["subject"])
    case = ET.SubElement(suite, "testcase", classname=host, name=name, time="0")
    detail = "%s (value %s, limit %s)" % (
        verdict["message"], label_text(verdict["value"]), label_text(verdict["limit"]),
    )  # fmt: skip
    if verdict["status"] == "fail":
        failure = ET.SubElement(case, "failure", message=verdict["message"], type="fail")
        failure.text = detail
    else:
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="status", value=verdict["status"])
        ET.SubElement(case, "system-out").text = "%s: %s" % (verdict["status"].upper(), detail)


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
    env.filters["text"] = label_text
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
    return label_text(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")

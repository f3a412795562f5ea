# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the fleet document to its files and write them atomically.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
It runs on the controller only (Jinja2 comes with ansible-core there).

- ``report.json``: the document of ``_report_model.build_report`` as it is.
- ``report.md`` and ``report.html``: Jinja2 templates in ``templates/`` next to this
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
import shutil
import xml.etree.ElementTree as ET

import jinja2

from ansible_collections.netstack.keepalive.plugins.module_utils._files import (
    fsync_directory,
    write_temp_file,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    STATUS_RANK,
    VALUE_NAMES,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._chart import (
    fleet_chart,
    host_chart,
    human_seconds,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._model import (
    detection_seconds,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._prom import (
    label_text,
    prom_file_name,
    render_prometheus,
)

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
FORMATS = ("json", "markdown", "html", "junit", "prometheus")
DEFAULT_FORMATS = ("json", "markdown", "html", "junit")
HOST_SECTIONS = 500  # host sections of the HTML page at most (``_sections``)
# Rows of each problems table of the HTML page at most (failing, unknown, warning): the rest
# are counted under the table and listed in report.md and report.json.
PROBLEM_ROWS = 500
# The values table of a host: (label, host report key, where the values come from).
VALUE_ROWS = (
    ("intended", "intended", "policy"),
    ("before this run", "runtime", "runtime"),
    ("after this run", "after", "runtime"),
)
FILE_NAMES = {
    "json": "report.json",
    "markdown": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
}


def write_report(doc, dest, formats=DEFAULT_FORMATS):
    """Write the chosen ``formats`` of ``doc`` into the folder ``dest``; return the paths.

    All or nothing: every file is rendered in memory first, then written to a temporary name
    in ``dest``, then all are renamed over the old ones. A failure at any step removes the
    temporary files and puts back the previous files, so ``dest`` holds the previous report
    set or the new one, never a mix; and a reader (a CI job, node_exporter) sees the old file
    or the new one, never half of one.
    """
    check_formats(formats)
    files = render_files(doc, formats)
    return write_files(dest, files)


def check_formats(formats):
    if not isinstance(formats, (list, tuple)) or not formats:
        raise KeepaliveError(
            "formats: expected a non-empty list of %s, got %r" % (", ".join(FORMATS), formats),
            option="formats",
        )
    unknown = sorted(set(str(name) for name in formats) - set(FORMATS))
    if unknown:
        raise KeepaliveError(
            "formats: %s not known; allowed: %s" % (", ".join(unknown), ", ".join(FORMATS)),
            option="formats",
        )


def render_files(doc, formats):
    """``[(file name, text)]`` of the chosen formats, in the order of ``FORMATS``."""
    renderers = {
        "json": render_json,
        "markdown": render_markdown,
        "html": render_html,
        "junit": render_junit,
    }
    files = []
    for name in FORMATS:
        if name not in formats:
            continue
        if name == "prometheus":
            files += _prometheus_files(doc)
            continue
        files.append((FILE_NAMES[name], renderers[name](doc)))
    return files


def _prometheus_files(doc):
    """One ``<host>.prom`` per host; two hosts that map to one file name would overwrite."""
    owners = {}
    files = []
    for host in doc["hosts"]:
        name = prom_file_name(host["host"])
        if name in owners or name in FILE_NAMES.values():
            raise KeepaliveError(
                "formats: prometheus: hosts %s and %s both map to the file %s (characters "
                "other than letters, digits, '.', '-' and '_' become '_'); rename one or drop "
                "prometheus from formats" % (owners.get(name, "(report)"), host["host"], name),
                option="formats",
            )
        owners[name] = host["host"]
        files.append((name, render_prometheus(host, doc["generated_at"])))
    return files


def write_files(dest, files):
    """Write ``[(file name, text)]`` into ``dest`` as one set; return the paths."""
    _prepare_folder(dest)
    targets = [os.path.join(dest, name) for name, _text in files]
    for path in targets:
        if os.path.lexists(path) and not os.path.isfile(path):
            raise KeepaliveError(
                "dest=%s: %s is in the way (%s); the report replaces regular files only"
                % (dest, os.path.basename(path), _kind(path)),
                option="dest",
                path=path,
            )
    temps = []
    try:
        for path, (_name, text) in zip(targets, files, strict=True):
            temps.append(_write_temp(path, text))
        _commit(list(zip(temps, targets, strict=True)))
    except OSError as exc:
        raise KeepaliveError(
            "dest=%s: cannot write the report (%s); nothing was changed, the previous files "
            "are as they were" % (dest, exc),
            option="dest",
            path=getattr(exc, "filename", None),
        )
    finally:
        for temp in temps:
            _remove(temp)
    fsync_directory(dest)
    return targets


def _prepare_folder(dest):
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise KeepaliveError(
            "dest=%s: cannot create the folder: it exists and is %s" % (dest, _kind(dest)),
            option="dest",
        )
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise KeepaliveError("dest=%s: cannot create the folder: %s" % (dest, exc), option="dest")


def _kind(path):
    if os.path.islink(path):
        return "a symbolic link"
    if os.path.isdir(path):
        return "a directory"
    return "not a regular file"


def _write_temp(path, text):
    """A temporary file next to ``path`` with ``text``, synced, mode 0644 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    directory, name = os.path.split(path)
    return write_temp_file(directory, name, text, 0o644 & ~umask, suffix=".tmp")


def _commit(pairs):
    """Rename every temp over its target; on a failure put every previous file back.

    Before a target is replaced, its old file gets a second name (a hard link, or a copy
    where links are not possible); undoing is renaming that back, which cannot half-fail
    on the same folder.
    """
    done = []  # (target, backup or None for a target that did not exist)
    try:
        for temp, target in pairs:
            backup = _keep_old(target)
            done.append((target, backup))
            os.replace(temp, target)
    except BaseException:
        stuck = _undo(done)
        if stuck:
            raise KeepaliveError(
                "cannot put back the previous %s after a failed write; the new files are "
                "there instead" % ", ".join(stuck),
                option="dest",
            )
        raise
    for _target, backup in done:
        if backup:
            _remove(backup)


def _keep_old(target):
    if not os.path.lexists(target):
        return None
    backup = "%s.%s.old" % (
        os.path.join(os.path.dirname(target), "." + os.path.basename(target)),
        os.getpid(),
    )
    _remove(backup)
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
    return backup


def _undo(done):
    """Put every replaced file back; return the names that could not be put back."""
    stuck = []
    for target, backup in reversed(done):
        try:
            _restore(target, backup)
        except OSError:
            stuck.append(os.path.basename(target))
    return stuck


def _restore(target, backup):
    if backup is None:
        _remove(target)  # it did not exist before this run
    elif os.path.lexists(backup):
        os.replace(backup, target)
        # A target never replaced is still the same file as its backup: rename does nothing
        # for two names of one file, so the extra name must go on its own.
        _remove(backup)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def render_json(doc):
    return json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"


def render_markdown(doc):
    return _environment(autoescape=False).get_template("report.md.j2").render(_view(doc))


def render_html(doc):
    return _environment(autoescape=True).get_template("report.html.j2").render(_view(doc))


def render_junit(doc):
    """JUnit XML: a testsuite per host, a testcase per verdict; warn passes with a note.

    An ``unknown`` verdict (a host the audit could not see) is an ``<error>``: CI systems
    show it as broken, not as a passing or skipped test.
    """
    suites = ET.Element("testsuites", name="netstack.keepalive", timestamp=doc["generated_at"])
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for host in doc["hosts"]:
        cases = host["verdicts"]  # never empty: a host that judged nothing has an unknown one
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=host["host"],
            tests=str(len(cases)),
            failures=str(host["counts"]["fail"]),
            errors=str(host["counts"]["unknown"]),
            skipped="0",
            timestamp=doc["generated_at"],
        )
        _properties(suite, host)
        for verdict in cases:
            _testcase(suite, host["host"], verdict)
        totals["tests"] += len(cases)
        totals["failures"] += host["counts"]["fail"]
        totals["errors"] += host["counts"]["unknown"]
    for name in ("tests", "failures", "errors"):
        suites.set(name, str(totals[name]))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _properties(suite, host):
    props = ET.SubElement(suite, "properties")
    for name in (
        "profile",
        "mode",
        "check_mode",
        "status",
        "detection_seconds",
        "detection_busy_seconds",
    ):
        ET.SubElement(props, "property", name=name, value=label_text(host[name]))


def _testcase(suite, host, verdict):
    name = verdict["check"]
    if verdict["subject"]:
        name = "%s [%s]" % (name, verdict["subject"])
    case = ET.SubElement(suite, "testcase", classname=host, name=name, time="0")
    detail = "%s (value %s, limit %s)" % (
        verdict["message"],
        label_text(verdict["value"]),
        label_text(verdict["limit"]),
    )
    if verdict["status"] == "fail":
        failure = ET.SubElement(case, "failure", message=verdict["message"], type="fail")
        failure.text = detail
    elif verdict["status"] == "unknown":
        error = ET.SubElement(case, "error", message=verdict["message"], type="unknown")
        error.text = "UNKNOWN: %s" % verdict["message"]
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
    env.filters["fix"] = fix_text
    env.filters["fixdoc"] = fix_doc
    return env


def fix_text(verdict):
    """The "how to fix" cell: the setting and where it goes, or "" without advice."""
    advice = verdict.get("advice")
    if not advice:
        return ""
    return "%s (%s: %s)" % (advice["set"], advice["service"], advice["where"])


def fix_doc(verdict):
    """The advice's documentation link, or ""."""
    return (verdict.get("advice") or {}).get("doc") or ""


def _view(doc):
    glance = fleet_chart(doc["hosts"])
    hosts = [_host_view(host) for host in doc["hosts"]]
    texts = (glance or {}).get("host_texts") or {}
    for host in hosts:
        host["glance"] = texts.get(host["data"]["host"], "–")
    sections = _sections(hosts)
    return {
        "doc": doc,
        "hosts": hosts,
        "sections": sections,
        "sections_left_out": len(hosts) - len(sections),
        "problem_rows": PROBLEM_ROWS,
        "fleet_chart": glance,
        "value_names": VALUE_NAMES,
    }


def _sections(hosts):
    """The hosts the HTML page details, one section each: every host of a fleet up to
    HOST_SECTIONS, else that many, those that need attention first (a page of thousands of
    sections is slow to write and to open; every host is in the hosts table and in
    report.json and report.md)."""
    if len(hosts) <= HOST_SECTIONS:
        return hosts
    ranked = sorted(hosts, key=lambda h: -STATUS_RANK[h["data"]["status"]])
    return ranked[:HOST_SECTIONS]


def _host_view(host):
    layer4 = [
        box["idle_timeout"]
        for box in host["path"]
        if box.get("layer") == 4 and isinstance(box.get("idle_timeout"), int)
    ]
    return {
        "data": host,
        "anchor": host_anchor(host["host"]),
        "chart": host_chart(host),
        "smallest_timeout": min(layer4) if layer4 else None,
        "verdicts": sorted(host["verdicts"], key=_worst_first),
        "value_rows": _value_rows(host),
        "busy_basis": _busy_basis(host),
        "path_text": " → ".join(_box_text(box) for box in host["path"]) or "none given",
    }


def _value_rows(host):
    """The rows of a host's values table, each with its detection time from the model."""
    rows = []
    for label, key, source in VALUE_ROWS:
        values = host[key]
        rows.append(
            {
                "label": label,
                "values": values,
                "detection": detection_seconds(values),
                "source": source,
            }
        )
    return rows


def _busy_basis(host):
    """What the busy figure was computed from, as far as the host report says."""
    if host.get("detection_busy_seconds") is None:
        return "not reported"
    if host.get("retries2") is None:
        return "tcp_retries2 not read from the host: the kernel default 15 assumed"
    return "tcp_retries2 %s" % host["retries2"]


def _worst_first(verdict):
    return -STATUS_RANK[verdict["status"]]


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

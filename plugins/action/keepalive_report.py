# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin netstack.keepalive.keepalive_report: write the fleet report on the controller.

Documentation: plugins/modules/keepalive_report.py. The action never contacts a managed host
and never runs a module; it reads the host reports (given, or from hostvars), builds the fleet
document and writes its files. It writes them in check mode too: the report is the product of
an audit, and writing it changes no managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.action import ActionBase

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    FAIL,
    FAIL_ON,
    UNKNOWN,
    WARN,
    fails_gate,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._model import (
    build_report,
    merge_slices,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._render import (
    DEFAULT_FORMATS,
    FORMATS,
    check_formats,
    write_report,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._schema import (
    shown,
)

# Hosts that did not pass, worst first, as the summary names them.
NOT_PASSING = (FAIL, UNKNOWN, WARN)
ARGUMENT_SPEC = dict(
    hosts=dict(type="list", elements="raw"),
    hostvars_key=dict(type="str", default="tcp_keepalive_report"),
    play_hosts=dict(type="list", elements="str"),
    dest=dict(type="path", default="./keepalive-report"),
    formats=dict(type="list", elements="str", choices=list(FORMATS), default=list(DEFAULT_FORMATS)),
    fail_on=dict(type="str", choices=list(FAIL_ON), default="never"),
    merge=dict(type="list", elements="path"),
)
MUTUALLY_EXCLUSIVE = [("hosts", "play_hosts"), ("merge", "hosts"), ("merge", "play_hosts")]
# The files a merge reads in a folder (report.json of each slice, or one host report each).
MERGED_SUFFIX = ".json"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # controller only: no connection to the host is opened
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE
        )
        # Everything is checked and rendered in memory before the first file is touched.
        try:
            dest = _check_options(args)
            hosts, unseen = _host_reports(args, task_vars)
            doc = build_report(hosts, unseen=unseen)
            paths = write_report(doc, dest, args["formats"])
        except KeepaliveError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(_summary(doc, dest, paths, args["fail_on"]))
        return result


def _check_options(args):
    """What the argument spec cannot say; returns ``dest`` as an absolute path."""
    dest = args["dest"]
    if not dest or not dest.strip():
        raise KeepaliveError(
            "dest: expected the folder to write the report into, got %r" % dest, option="dest"
        )
    check_formats(args["formats"])
    key = args["hostvars_key"]
    if not key or not key.strip():
        raise KeepaliveError(
            "hostvars_key: expected the name of the host fact that holds each host's report, "
            "got %r" % key,
            option="hostvars_key",
        )
    names = args["play_hosts"] or []
    twice = sorted(set(name for name in names if names.count(name) > 1))
    if twice:
        raise KeepaliveError(
            "play_hosts: %s given more than once; each host must appear once" % ", ".join(twice),
            option="play_hosts",
        )
    return os.path.abspath(dest)


def _host_reports(args, task_vars):
    """``(host reports, {name: reason})``: the reports given, merged from files, or those of
    the play hosts."""
    if args.get("merge") is not None:
        return merge_slices(_read_slices(args["merge"]))
    if args["hosts"] is not None:
        reports = []
        for number, report in enumerate(args["hosts"], 1):
            where = _describe(report, "number %d of %d in hosts" % (number, len(args["hosts"])))
            reports.append(_plain(report, where))
        return reports, {}
    return _hosts_from_hostvars(args, task_vars)


def _hosts_from_hostvars(args, task_vars):
    """The host report fact of every play host; the reason for each host without one."""
    names = args["play_hosts"]
    if names is None:
        names = task_vars.get("ansible_play_hosts_all") or []
    hostvars = task_vars.get("hostvars") or {}
    key = args["hostvars_key"]
    reports, unseen = [], {}
    for name in names:
        if name not in hostvars:
            raise KeepaliveError(
                "play_hosts: %s is not in the inventory" % name, option="play_hosts"
            )
        report = _plain(hostvars[name].get(key), "host %s" % name)
        if report is None:
            unseen[name] = (
                "the host has no %s fact (unreachable, or it failed before the "
                "report was built)" % key
            )
        elif not report and isinstance(report, (dict, list, str)):
            unseen[name] = "its %s fact is empty" % key
        else:
            reports.append(_own_report(name, key, report))
    return reports, unseen


def _own_report(name, key, report):
    """The fact of host ``name`` is about ``name``: fill in a missing host, refuse another."""
    if not isinstance(report, dict):
        raise KeepaliveError(
            "host %s: the %s fact must be a host report (a dict), got %s"
            % (name, key, shown(report)),
            option="hostvars_key",
        )
    if report.get("host") is None:
        return dict(report, host=name)
    if report["host"] != name:
        raise KeepaliveError(
            "host %s: its %s fact is about host %s; a host's fact must report on the host "
            "itself (host: %s)" % (name, key, shown(report["host"]), name),
            option="hostvars_key",
        )
    return report


def _read_slices(paths):
    """``[(file, data)]`` of every file to merge: the files given, and in each folder given
    every ``*.json`` below it, in name order (a drop folder of one sub-folder per host)."""
    if not paths:
        raise KeepaliveError(
            "merge: expected report.json files, host report files or folders holding them, "
            "got %r" % (paths,),
            option="merge",
        )
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(top, name)
                for top, _dirs, names in os.walk(path)
                for name in names
                if name.endswith(MERGED_SUFFIX)
            )
            if not found:
                raise KeepaliveError(
                    "merge: the folder %s holds no %s file to merge" % (path, MERGED_SUFFIX),
                    option="merge",
                )
            files += found
        else:
            files.append(path)
    return [(path, _load_json(path)) for path in files]


def _load_json(path):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise KeepaliveError(
            "merge: cannot read %s as JSON (a report.json or a host report): %s" % (path, exc),
            option="merge",
        )


def _describe(report, position):
    if isinstance(report, dict) and isinstance(report.get("host"), str) and report["host"]:
        return "host %s" % report["host"]
    return "the host report %s" % position


def _plain(value, where):
    """Plain JSON types: hostvars hand out lazy, tagged containers; the report wants data."""
    try:
        return json.loads(json.dumps(value, default=_unknown))
    except (TypeError, ValueError) as exc:
        raise KeepaliveError(
            "%s: the host report is not plain data: %s" % (where, exc), option="hosts"
        )


def _unknown(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "items"):
        return dict(value.items())
    raise TypeError("%s is not JSON serialisable" % type(value).__name__)


def _summary(doc, dest, paths, fail_on):
    by_status = {
        status: [h["host"] for h in doc["hosts"] if h["status"] == status] for status in NOT_PASSING
    }
    not_passing = ", ".join(_named(by_status[status], status) for status in (FAIL, UNKNOWN))
    msg = "fleet report %s: %d hosts, %s, %d warn; written to %s" % (
        doc["status"].upper(),
        doc["totals"]["hosts"],
        not_passing,
        len(by_status[WARN]),
        dest,
    )
    return {
        "changed": False,
        "failed": fails_gate(doc["status"], fail_on),
        "msg": msg,
        "status": doc["status"],
        "totals": doc["totals"],
        "counts": doc["verdict_totals"],
        "checks": doc["checks"],
        "failing_hosts": by_status[FAIL],
        "unknown_hosts": by_status[UNKNOWN],
        "warning_hosts": by_status[WARN],
        "problems": doc["problems"],
        "dest": dest,
        "paths": paths,
    }


def _named(hosts, status):
    return "%d %s%s" % (len(hosts), status, " (%s)" % ", ".join(hosts) if hosts else "")

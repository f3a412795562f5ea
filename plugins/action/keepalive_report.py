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
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report_model import (
    build_report,
    missing_host,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report_render import (
    DEFAULT_FORMATS,
    FORMATS,
    write_report,
)

FAIL_ON = ("fail", "warn", "never")
ARGUMENT_SPEC = dict(
    hosts=dict(type="list", elements="dict"),
    hostvars_key=dict(type="str", default="tcp_keepalive_report"),
    play_hosts=dict(type="list", elements="str"),
    dest=dict(type="path", default="./keepalive-report"),
    formats=dict(type="list", elements="str", choices=list(FORMATS), default=list(DEFAULT_FORMATS)),
    fail_on=dict(type="str", choices=list(FAIL_ON), default="never"),
)
MUTUALLY_EXCLUSIVE = [("hosts", "play_hosts")]


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
        try:
            hosts = args["hosts"]
            if hosts is None:
                hosts = self._hosts_from_hostvars(args, task_vars)
            doc = build_report(_plain(hosts))
            dest = os.path.abspath(args["dest"])
            paths = write_report(doc, dest, args["formats"])
        except KeepaliveError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(_summary(doc, dest, paths, args["fail_on"]))
        return result

    def _hosts_from_hostvars(self, args, task_vars):
        """The host report fact of every play host; a placeholder for a host without one."""
        names = args["play_hosts"]
        if names is None:
            names = task_vars.get("ansible_play_hosts_all") or []
        hostvars = task_vars.get("hostvars") or {}
        key = args["hostvars_key"]
        hosts = []
        for name in names:
            if name not in hostvars:
                raise KeepaliveError(
                    "play_hosts: %s is not in the inventory" % name, option="play_hosts"
                )
            report = hostvars[name].get(key)
            if report is None:
                report = missing_host(
                    name, "the host has no %s fact (unreachable, or it failed before the "
                    "report was built)" % key,
                )  # fmt: skip
            hosts.append(report)
        return hosts


def _plain(value):
    """Plain JSON types: hostvars hand out lazy, tagged containers; the report wants data."""
    try:
        return json.loads(json.dumps(value, default=_unknown))
    except (TypeError, ValueError) as exc:
        raise KeepaliveError("hosts: a host report is not plain data: %s" % exc, option="hosts")


def _unknown(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "items"):
        return dict(value.items())
    raise TypeError("%s is not JSON serialisable" % type(value).__name__)


def _summary(doc, dest, paths, fail_on):
    failing = [h["host"] for h in doc["hosts"] if h["status"] == "fail"]
    warning = [h["host"] for h in doc["hosts"] if h["status"] == "warn"]
    msg = "fleet report %s: %d hosts, %d fail%s, %d warn; written to %s" % (
        doc["status"].upper(), doc["totals"]["hosts"], len(failing),
        " (%s)" % ", ".join(failing) if failing else "", len(warning), dest,
    )  # fmt: skip
    failed = fail_on != "never" and (
        doc["status"] == "fail" or (fail_on == "warn" and doc["status"] == "warn")
    )
    return {
        "changed": False,
        "failed": failed,
        "msg": msg,
        "status": doc["status"],
        "totals": doc["totals"],
        "counts": doc["verdict_totals"],
        "checks": doc["checks"],
        "failing_hosts": failing,
        "warning_hosts": warning,
        "problems": doc["problems"],
        "dest": dest,
        "paths": paths,
    }

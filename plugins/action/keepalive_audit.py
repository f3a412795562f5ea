# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin netstack.keepalive.keepalive_audit: a host's whole audit in one task.

Documentation: plugins/modules/keepalive_audit.py. On the controller it checks the role's
variables and plans the values (the code behind the filters keepalive_role_inputs and
keepalive_plan), sends keepalive_audit_facts to the host once, judges the sockets it read
(keepalive_sockets_info's own checks, so the host compiles none of them) and builds the
host report (the code behind keepalive_host_report), which it sets as the fact
tcp_keepalive_report.
A play of many hosts pays one task per host instead of one per role step: each task costs
every host a worker process, whatever it does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._role_inputs import (
    KNOWN,
    check_role_inputs,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _sockets_info

MODULE = "netstack.keepalive.keepalive_audit_facts"
# What the input check adds to the plan for the socket audit (not part of the plan itself).
INPUT_KEYS = ("require", "heartbeats")
REPORT_FACT = "tcp_keepalive_report"
ARGUMENT_SPEC = dict(
    variables=dict(type="dict"),  # None: read from the task's variables (role_variables)
    option_variables=dict(type="dict"),  # None: OPTION_VARIABLES
)
# The keepalive_sysctl option each planned value goes to, as the role's apply step passes it.
PLANNED_OPTIONS = (
    ("time", "tcp_keepalive_time"),
    ("intvl", "tcp_keepalive_intvl"),
    ("probes", "tcp_keepalive_probes"),
    ("retries2", "tcp_retries2"),  # only when the profile asks (detect_busy_within)
)
# The keepalive_sysctl option each role variable goes to.
VARIABLE_OPTIONS = (
    ("tcp_keepalive_apply_enabled", "apply"),
    ("tcp_keepalive_persist_enabled", "persist"),
    ("tcp_keepalive_sysctl_file", "path"),
    ("tcp_keepalive_sysctl_file_mode", "mode"),
    ("tcp_keepalive_on_shadowed", "on_shadowed"),
)
NETNS_VARIABLE = "tcp_keepalive_netns"
# The role variable behind each keepalive_sysctl option sent, named when the host refuses it.
OPTION_VARIABLES = dict(
    [(option, "tcp_keepalive_profile") for _name, option in PLANNED_OPTIONS],
    **dict((option, variable) for variable, option in VARIABLE_OPTIONS),
    netns=NETNS_VARIABLE,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname")
        try:
            variables = args["variables"]
            if variables is None:
                variables = role_variables(host, task_vars, self._templar.template)
            plan = _plan(host, variables)
            sockets = checked_socket_options(host, socket_options(plan, variables))
        except KeepaliveError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        facts = self._execute_module(
            module_name=MODULE,
            module_args=module_args(plan, variables, sockets),
            task_vars=task_vars,
        )
        if facts.get("failed"):
            option_variables = args["option_variables"] or OPTION_VARIABLES
            result.update(failed=True, msg=_host_failure(host, facts, option_variables))
            return result
        if sockets is not None:
            facts["sockets"] = _sockets_info.judge(facts["sockets"], sockets)
        report = _report(host, plan, variables, facts)
        result.update(changed=False, ansible_facts={REPORT_FACT: report})
        if facts.get("warnings"):
            result["warnings"] = facts["warnings"]
        return result


def role_variables(host, task_vars, template):
    """Every variable of the role (``KNOWN``) from ``task_vars``, templated. The role lets the
    action read them: a mapping of ``{{ name }}`` templates given as its argument would be
    compiled by Jinja again in every host's worker process (about 10 ms of CPU per host)."""
    missing = [name for name in KNOWN if name not in task_vars]
    if missing:
        raise KeepaliveError(
            "%s: keepalive_audit reads the role's variables, and %s not defined: run it from "
            "the role netstack.keepalive.tcp_keepalive or give the variables option"
            % (host, ", ".join(missing) + (" is" if len(missing) == 1 else " are")),
            option="variables",
        )
    return dict((name, template(task_vars[name])) for name in KNOWN)


def _plan(host, variables):
    """The plan of the host's values; refuses invalid input as the role's plan step does."""
    if variables.get("tcp_keepalive_mode") != "audit":
        raise KeepaliveError(
            "%s: keepalive_audit only audits: tcp_keepalive_mode must be audit, got %r"
            % (host, variables.get("tcp_keepalive_mode")),
            option="variables",
        )
    inputs = check_role_inputs(variables)
    if not inputs["valid"]:
        raise KeepaliveError(
            "%s: invalid role input, nothing was changed: %s" % (host, "; ".join(inputs["errors"]))
        )
    plan = plan_values(
        variables["tcp_keepalive_profile"],
        variables["tcp_keepalive_path"],
        variables["tcp_keepalive_profiles"],
        _true(variables["tcp_keepalive_middlebox_enabled"]),
    )
    return dict(plan, require=inputs["require"], heartbeats=inputs.get("heartbeats"))


def module_args(plan, variables, sockets):
    """keepalive_audit_facts' options: those the role's apply step gives keepalive_sysctl,
    and what the socket audit must read for ``sockets`` (``checked_socket_options``); a part
    the role would skip is left out."""
    found = {}
    if plan["intended"] is not None:
        sysctl = dict(
            (option, plan["intended"][name])
            for name, option in PLANNED_OPTIONS
            if plan["intended"].get(name) is not None
        )
        sysctl.update((option, variables[name]) for name, option in VARIABLE_OPTIONS)
        if variables.get(NETNS_VARIABLE):
            sysctl["netns"] = variables[NETNS_VARIABLE]
        found["sysctl"] = sysctl
    if sockets is not None:
        found["sockets"] = _sockets_info.observation_wanted(sockets)
    return found


def socket_options(plan, variables):
    """The options the role's adoption step gives keepalive_sockets_info, or None when the
    role skips it."""
    if not _true(variables["tcp_keepalive_adoption_enabled"]):
        return None
    middlebox = _true(variables["tcp_keepalive_middlebox_enabled"])
    found = {
        "require": plan["require"],
        "path": variables["tcp_keepalive_path"] if middlebox else [],
        "profile": variables["tcp_keepalive_profile"],
        "profiles": variables["tcp_keepalive_profiles"],
    }
    if plan.get("heartbeats"):
        found["heartbeats"] = plan["heartbeats"]
    return found


def checked_socket_options(host, options):
    """``options`` with keepalive_sockets_info's defaults, checked as that module checks its
    judging options; here, before the host is asked (the role's input check has passed, so a
    refusal is this plugin's fault, said as such)."""
    if options is None:
        return None
    try:
        return _sockets_info.checked_policy_options(options)
    except KeepaliveError as exc:
        raise KeepaliveError("%s: keepalive_sockets_info options: %s" % (host, exc))


def _report(host, plan, variables, facts):
    return host_report(
        dict((key, value) for key, value in plan.items() if key not in INPUT_KEYS),
        host,
        mode="audit",
        check_mode=True,  # an audit runs keepalive_sysctl in check mode only
        sysctl=facts.get("sysctl"),
        sysctl_error=facts.get("sysctl_error"),
        sockets=facts.get("sockets"),
        fail_on=variables["tcp_keepalive_fail_on"],
        on_shadowed=variables["tcp_keepalive_on_shadowed"],
        persist=variables["tcp_keepalive_persist_enabled"],
    )


def _host_failure(host, facts, option_variables):
    """The message the role gives when the host cannot take the values (the preflight), or
    when the socket audit fails."""
    message = facts.get("msg") or "keepalive_audit_facts failed"
    if facts.get("stage") == "preflight":
        variable = option_variables.get(facts.get("option") or "", "keepalive_sysctl")
        return "%s: invalid role input, nothing was changed: %s: %s" % (host, variable, message)
    return "%s: %s" % (host, message)


def _true(value):
    return value is True or str(value).lower() in ("true", "yes", "on", "1")

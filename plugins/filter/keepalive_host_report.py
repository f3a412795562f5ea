# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_host_report
short_description: Judge a host from its plan and what the modules found
version_added: 1.0.0
author: netstack.keepalive contributors
description:
  - Builds the host report (schema 1) that the role tcp_keepalive stores as the fact
    C(tcp_keepalive_report) and the fleet report is made from - values, boot values, shadowing
    files, adoption and every verdict, with the worst status and whether the host must fail.
positional: host
options:
  _input:
    description: The plan from P(netstack.keepalive.keepalive_plan#filter).
    type: dict
    required: true
  host:
    description: Inventory name of the host.
    type: str
    required: true
  mode:
    description: C(enforce) or C(audit).
    type: str
    default: enforce
  check_mode:
    description: Whether the sysctl module ran in check mode; then the values found are judged,
      not the ones it would set.
    type: bool
    default: false
  sysctl:
    description: The registered result of M(netstack.keepalive.keepalive_sysctl).
    type: dict
  sysctl_error:
    description: The message of a failed M(netstack.keepalive.keepalive_sysctl) run.
    type: str
  sockets:
    description: The registered result of M(netstack.keepalive.keepalive_sockets_info).
    type: dict
  fail_on:
    description: Status that makes C(fails_host) true.
    type: str
    default: fail
    choices: [fail, warn, never]
  on_shadowed:
    description: Status of a verdict for a file that overrides ours at boot (C(ignore) makes it
      pass).
    type: str
    default: fail
    choices: [fail, warn, ignore]
"""

EXAMPLES = r"""
- name: Judge the host
  ansible.builtin.set_fact:
    tcp_keepalive_report: >-
      {{ plan | netstack.keepalive.keepalive_host_report(host=inventory_hostname,
                                                         sysctl=sysctl_result) }}
"""

RETURN = r"""
_value:
  description: The host report; docs/report.md describes every key.
  type: dict
  contains:
    status:
      description: Worst verdict status (pass, warn, fail).
      type: str
    verdicts:
      description: One C({check, subject, status, value, limit, message}) per check.
      type: list
      elements: dict
    problems:
      description: Messages of the verdicts that did not pass, failures first.
      type: list
      elements: str
    fails_host:
      description: Whether the role must fail the host (from O(fail_on)).
      type: bool
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_role import (  # noqa: E402
    keepalive_host_report,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_host_report."""

    def filters(self):
        return {"keepalive_host_report": keepalive_host_report}

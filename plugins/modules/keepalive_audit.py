#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keepalive_audit
short_description: A host's whole keepalive audit in one task and one round trip
version_added: 1.1.0
description:
  - The audit of the role C(netstack.keepalive.tcp_keepalive) as one task - its entry point
    C(audit), which the playbook C(netstack.keepalive.audit) runs, and its C(main) in
    C(tcp_keepalive_mode=audit).
  - On the controller it checks every role variable and plans the values with the code of the
    filters P(netstack.keepalive.keepalive_role_inputs#filter) and
    P(netstack.keepalive.keepalive_plan#filter), then sends
    M(netstack.keepalive.keepalive_audit_facts) to the host B(once) - the options the role's
    apply step gives M(netstack.keepalive.keepalive_sysctl) (in check mode), and what the
    socket audit of its adoption step must read - then judges those sockets with the checks
    of M(netstack.keepalive.keepalive_sockets_info) and the options the adoption step gives it
    (the result is that module's), and builds the host report with the code of
    P(netstack.keepalive.keepalive_host_report#filter). The report is set as the host fact
    C(tcp_keepalive_report), the one the role sets in every mode.
  - "Why the controller judges: a module's code is compiled from source on every host at
    every run, so the host gets only the code that reads."
  - Changes nothing on the host. Invalid role input fails the host before the host is asked
    (C(invalid role input, nothing was changed), naming the variables), as the role does.
  - "Why one task: every task of a play costs every host a worker process on the controller,
    whatever it does; the role's audit made a dozen of them per host."
  - This is an action plugin; the module it sends is M(netstack.keepalive.keepalive_audit_facts).
author:
  - netstack.keepalive contributors (@netstack)
extends_documentation_fragment:
  # Order matters: for a key set twice, the module's own wins, then the earlier fragment.
  - netstack.keepalive.attributes.linux
  - netstack.keepalive.attributes.no_diff
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
options:
  variables:
    description:
      - Every variable of the role (C(tcp_keepalive_*)) with its value, as the filter
        P(netstack.keepalive.keepalive_role_inputs#filter) reads them. C(tcp_keepalive_mode)
        must be C(audit).
      - Null (the default, as the role calls it) reads each of them from the task's
        variables, templated, and fails naming any that is not defined. A mapping of
        C({{ name }}) templates would cost a Jinja compile per variable in every host's
        worker process.
    type: dict
  option_variables:
    description:
      - The role variable behind each option of M(netstack.keepalive.keepalive_sysctl), to name
        it when the host cannot take a value.
      - Null (the default) names the role variable each option is built from (the values
        from C(tcp_keepalive_profile), C(path) from C(tcp_keepalive_sysctl_file), ...).
    type: dict
attributes:
  action:
    support: full
    details: Checks, plans and builds the report on the controller; sends one module.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The audit changes nothing; it runs the same in check mode.
  idempotent:
    description: It only reads; running it again changes nothing and reports C(changed=false).
    support: full
seealso:
  - module: netstack.keepalive.keepalive_audit_facts
  - module: netstack.keepalive.keepalive_report
"""

EXAMPLES = r"""
- name: Audit every host (the role's audit entry point runs this one task)
  ansible.builtin.import_role:
    name: netstack.keepalive.tcp_keepalive
    tasks_from: audit
  vars:
    tcp_keepalive_mode: audit

- name: The fleet report from the facts it set
  netstack.keepalive.keepalive_report:
    dest: ./keepalive-report
  run_once: true
"""

RETURN = r"""
ansible_facts:
  description: The host fact C(tcp_keepalive_report), the host report (schema 1, see
    C(docs/report.md) in the collection).
  returned: success
  type: dict
  sample:
    tcp_keepalive_report: {schema: 1, host: web-1, mode: audit, status: pass, verdicts: []}
msg:
  description: Why the audit of the host failed.
  returned: failure
  type: str
  sample: "web-1: invalid role input, nothing was changed: tcp_keepalive_netns: ..."
"""

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/keepalive_report.py does the work on
# the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keepalive_report
short_description: Write the fleet report of TCP keepalive on the controller
version_added: 1.0.0
description:
  - Collects the host reports (the fact C(tcp_keepalive_report) that the role
    C(netstack.keepalive.tcp_keepalive) sets on each host) and writes, on the controller,
    these files into the folder O(dest).
  - C(report.json) - the fleet document, with a stable, versioned schema (C(schema_version);
    see C(docs/report.md) in the collection).
  - C(report.md) - the same for a pull request, a ticket or a terminal.
  - C(report.html) - self-contained (inline CSS and SVG, no script, nothing fetched); the
    failing checks at the top, then a table per host and a chart per host of keepalive time
    and detection time against the idle timeouts on its path (log scale), so that a path
    that breaks shows as a bar that crosses a red line.
  - C(junit.xml) - one testcase per host and verdict (check and subject); a failing verdict
    is a C(<failure>), an unknown host an C(<error>), a warning passes with its message in
    C(system-out).
  - C(<host>.prom) - with C(prometheus) in O(formats), one file per host for node_exporter's
    textfile collector - keepalive values (runtime, after the run, at boot, intended),
    keepalive socket counts per unit, verdict counts by status.
  - All or nothing. Every option and every host report is checked, and every file rendered in
    memory, before anything is written; then each file is written to a temporary file in
    O(dest) and all are renamed over the old ones. On any failure the temporary files are
    removed and the previous files put back, so O(dest) holds the previous report set or the
    new one, never a mix, and a reader sees the old file or the new one, never half of one.
  - "Bad input fails the task with a message that names the host (by its inventory name) or
    the option, the key, the value and what is allowed - for example
    C(host web-1: 'detection_seconds' must be after.time + after.intvl x after.probes = 240,
    or null, got 'abc')."
  - This is an action plugin. It runs on the controller only, opens no connection and runs
    nothing on the managed hosts. Use it with C(run_once=true); C(delegate_to) is not
    needed.
  - B(The report is written in check mode too.) It changes no managed host, and an audit
    run with C(--check) exists to produce it. The result never reports C(changed).
  - A play host without the fact O(hostvars_key) (unreachable, or failed before the role
    built its report), with an empty one, or with a report without verdicts is C(unknown),
    never C(pass) - with the check C(report_present) and the reason, in every file and in
    the counts. Statuses rank C(pass) < C(warn) < C(unknown) < C(fail); an empty fleet is
    C(unknown).
requirements:
  - Jinja2 on the controller (ansible-core requires it)
author:
  - netstack.keepalive contributors (@netstack)
extends_documentation_fragment:
  # Order matters: for a key set twice, the module's own wins, then the earlier fragment.
  - netstack.keepalive.attributes.no_diff
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
options:
  hosts:
    description:
      - The host reports, one dict per host (host report schema 1, see C(docs/report.md)).
        Only C(host) is required; missing optional keys are shown as unknown; a key that is
        there must have the documented type and range.
      - When not given, the action reads the fact O(hostvars_key) of every host in
        O(play_hosts) from C(hostvars) itself.
    type: list
    elements: dict
  hostvars_key:
    description:
      - The host fact that holds each host's report, when O(hosts) is not given. A fact
        without C(host) is about its own host; one that names another host is refused.
    type: str
    default: tcp_keepalive_report
  play_hosts:
    description:
      - The hosts whose reports go into the fleet report, when O(hosts) is not given.
      - Defaults to C(ansible_play_hosts_all), every host the play started with, so that a
        host that failed on the way still shows up (as C(unknown)).
      - Each must be an inventory host, and appear once.
    type: list
    elements: str
  dest:
    description:
      - The folder to write the files into, on the controller; created if missing. A
        relative path is relative to the directory C(ansible-playbook) runs in.
      - Must not be empty; none of the report's file names in it may be a directory.
      - The playbooks of the collection pass their variable C(keepalive_report_dir) here.
    type: path
    default: ./keepalive-report
  formats:
    description:
      - The files to write. C(json) is C(report.json), C(markdown) C(report.md), C(html)
        C(report.html), C(junit) C(junit.xml), C(prometheus) one C(<host>.prom) per host.
      - Must not be empty. With C(prometheus), two hosts whose names map to the same file
        name are refused.
    type: list
    elements: str
    choices: [json, markdown, html, junit, prometheus]
    default: [json, markdown, html, junit]
  merge:
    description:
      - Build the report from the outputs of other runs instead of this play's hosts - the
        slices of a sliced job (AWX / Ansible Automation Platform job slicing, or runs with
        C(--limit)), or the drop folder of hosts that audited themselves with C(ansible-pull).
      - Each entry is a C(report.json) written by this action, a file holding one host report
        (the fact C(tcp_keepalive_report) as JSON), or a folder; from a folder every C(*.json)
        file below it is read, in name order.
      - The merged report is the one a single run over all those hosts writes - the same host
        entries, totals, check counts and problems; only C(generated_at) is the merge's.
      - A host found in two inputs is refused, naming both files; so is a file that is neither
        a fleet report nor a host report.
      - Mutually exclusive with O(hosts) and O(play_hosts); no host fact is read.
    type: list
    elements: path
    version_added: 1.1.0
  fail_on:
    description:
      - Set C(failed) in the result when any host is C(fail) or C(unknown) (O(fail_on=fail)),
        or also C(warn) (O(fail_on=warn)). An audit that could not see a host does not pass
        the gate. The files are written first in every case.
      - The default C(never) leaves the exit status to the playbook, which gets RV(status)
        and RV(counts).
    type: str
    choices: [fail, warn, never]
    default: never
attributes:
  action:
    support: full
    details: Runs on the controller only.
  async:
    support: none
  bypass_host_loop:
    support: none
    details: Runs once per host like any task; use C(run_once=true) to write one report.
  check_mode:
    support: full
    details: Writes the report in check mode as well; it changes no managed host.
  platform:
    support: full
    platforms: posix
    details: The controller's platform; the managed hosts are not contacted.
  idempotent:
    description: The same facts give the same files; the report changes no managed host, so
      C(changed) is always false.
    support: full
notes:
  - Jinja2 renders C(report.md) and C(report.html); it is always there on an Ansible
    controller.
seealso:
  - module: netstack.keepalive.keepalive_sysctl
  - module: netstack.keepalive.keepalive_sockets_info
"""

EXAMPLES = r"""
- name: Write the fleet report from every play host's tcp_keepalive_report fact
  netstack.keepalive.keepalive_report:
    dest: "{{ keepalive_report_dir | default('./keepalive-report') }}"
  run_once: true
  register: keepalive_fleet

- name: Fail the audit (for a CI gate) when any host has a failing verdict
  ansible.builtin.fail:
    msg: "{{ keepalive_fleet.msg }}"
  run_once: true
  when: keepalive_fleet.status == 'fail'

- name: Report given explicitly, with a Prometheus textfile per host, failing on warnings
  netstack.keepalive.keepalive_report:
    hosts: "{{ ansible_play_hosts | map('extract', hostvars, 'tcp_keepalive_report') | list }}"
    dest: /var/tmp/keepalive-report
    formats: [json, html, junit, prometheus]
    fail_on: warn
  run_once: true

- name: Merge the reports of four job slices (or a drop folder of ansible-pull hosts)
  netstack.keepalive.keepalive_report:
    merge:
      - /var/lib/awx/artifacts/slice-1/report.json
      - /var/lib/awx/artifacts/slice-2/report.json
      - /srv/keepalive-drop
    dest: /var/tmp/keepalive-fleet
  run_once: true
"""

RETURN = r"""
status:
  description: The fleet's worst host status; C(unknown) ranks between C(warn) and C(fail).
  returned: success
  type: str
  choices: [pass, warn, unknown, fail]
  sample: fail
totals:
  description: Hosts in the report, by their worst verdict, and how many changed.
  returned: success
  type: dict
  sample: {hosts: 4, pass: 1, warn: 1, fail: 2, unknown: 0, changed: 2}
counts:
  description: Verdicts of all hosts by status.
  returned: success
  type: dict
  sample: {pass: 27, warn: 7, fail: 4, unknown: 0}
checks:
  description: Verdicts by check name and status.
  returned: success
  type: dict
  sample: {middlebox_idle: {pass: 5, warn: 0, fail: 1, unknown: 0}}
failing_hosts:
  description: Hosts whose worst verdict is C(fail), by name.
  returned: success
  type: list
  elements: str
  sample: [azure-db-1, gcp-worker-1]
unknown_hosts:
  description: Hosts that are C(unknown) (no report, an empty one, or no verdicts), by name.
  returned: success
  type: list
  elements: str
  sample: [db-9]
warning_hosts:
  description: Hosts whose worst verdict is C(warn), by name.
  returned: success
  type: list
  elements: str
  sample: [proxy-app-1]
problems:
  description: Every failing, then every unknown, then every warning verdict, each with its
    C(host).
  returned: success
  type: list
  elements: dict
  sample:
    - host: azure-db-1
      check: middlebox_idle
      subject: azure_lb_standard
      status: fail
      value: 7200
      limit: 210
      message: "Azure Load Balancer (Standard) (azure_lb_standard) drops an idle connection
        after 240 s ...; set time <= 210 s"
dest:
  description: The folder the files were written to, as an absolute path.
  returned: success
  type: str
  sample: /home/ops/keepalive-report
paths:
  description: The files written, as absolute paths.
  returned: success
  type: list
  elements: str
  sample: [/home/ops/keepalive-report/report.json, /home/ops/keepalive-report/report.html]
msg:
  description: One line for a person - status, hosts failing, where the report is.
  returned: always
  type: str
  sample: "fleet report FAIL: 4 hosts, 2 fail (azure-db-1, gcp-worker-1), 0 unknown, 1 warn;
    written to /home/ops/keepalive-report"
"""

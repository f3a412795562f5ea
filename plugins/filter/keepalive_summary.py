# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_summary
author: netstack.keepalive contributors
version_added: 1.0.0
short_description: Summarise keepalive verdicts
description:
  - Worst status, counts per status and the messages of failing and warning verdicts
    (failures first).
options:
  _input:
    description: A list of verdicts from P(netstack.keepalive.keepalive_verdicts#filter).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Fail when the values do not suit the path
  ansible.builtin.assert:
    that: summary.status != 'fail'
    fail_msg: "{{ summary.problems }}"
  vars:
    summary: "{{ keepalive_values | netstack.keepalive.keepalive_verdicts(keepalive_path)
                 | netstack.keepalive.keepalive_summary }}"
"""

RETURN = r"""
_value:
  description: The summary.
  type: dict
  contains:
    status:
      description: V(fail) if any verdict fails, else V(warn) if any warns, else V(pass).
      type: str
      sample: warn
    counts:
      description: Number of verdicts per status.
      type: dict
      sample: {"pass": 5, "warn": 1, "fail": 0}
    total:
      description: Number of verdicts.
      type: int
      sample: 6
    problems:
      description: "C(check subject: message) for each failing, then each warning verdict."
      type: list
      elements: str
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_policy import (  # noqa: E402
    keepalive_summary,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_summary."""

    def filters(self):
        return {"keepalive_summary": keepalive_summary}

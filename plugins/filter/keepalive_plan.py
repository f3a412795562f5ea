# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_plan
short_description: Values a host should get for its profile and path, or why it must not get any
version_added: 1.0.0
author: netstack.keepalive contributors
description:
  - Resolves the profile (built-in or user-defined) and the middleboxes on the path, derives the
    missing keepalive values, and checks explicit ones, with the same policy engine the modules use.
  - Unlike P(netstack.keepalive.keepalive_derive#filter), a profile that cannot be met does not
    raise an error; the reason is returned in C(error), so an audit can still report the host.
  - Wrong input (an unknown profile or catalog id, a value out of range) raises an error.
positional: path, profiles, middlebox_check
extends_documentation_fragment:
  - netstack.keepalive.policy
options:
  _input:
    description: Profile name, or an inline profile mapping.
    type: raw
    required: true
  profiles:
    default: {}
  middlebox_check:
    description: Whether the values must beat the idle timeouts on O(path).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Plan the values of a host behind an AWS NLB and a NAT gateway
  ansible.builtin.set_fact:
    plan: "{{ 'cloud' | netstack.keepalive.keepalive_plan(path=['aws_nlb', 'aws_nat_gateway']) }}"
  # plan.intended == {time: 180, intvl: 20, probes: 3}; plan.error == none
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    profile:
      description: Profile name (C(inline) for an inline mapping).
      type: str
    profile_spec:
      description: The profile as given, a name or the inline mapping; the host report judges the
        values against it.
      type: raw
    path:
      description: The resolved middleboxes, each with its idle timeout and where it comes from.
      type: list
      elements: dict
    intended:
      description: The values to set (C(time), C(intvl), C(probes)); null when none can meet the
        profile.
      type: dict
    provenance:
      description: For each value, whether it was explicit or derived, and why.
      type: dict
    error:
      description: Why the values must not be applied (infeasible profile, or explicit values that
        fail it); null when they may.
      type: str
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_role import (  # noqa: E402
    keepalive_plan,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_plan."""

    def filters(self):
        return {"keepalive_plan": keepalive_plan}

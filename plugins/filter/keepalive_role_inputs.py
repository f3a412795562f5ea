# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_role_inputs
short_description: Check every input of the role tcp_keepalive before anything is changed
version_added: 1.0.0
author: netstack.keepalive contributors
description:
  - Checks the role's variables with the same code the modules and the policy engine use
    (profiles, path, require entries, sysctl file and mode, choices and booleans) and returns
    every problem at once, each naming the variable, the value and what is allowed.
  - The role runs it first, in its C(main), C(validate) and C(verify) entry points; the
    rollout playbook runs it for every host before the canary is touched.
  - A profile that is valid but cannot be met on its path is not an input error here; the
    plan (P(netstack.keepalive.keepalive_plan#filter)) reports it.
options:
  _input:
    description: Mapping of every role variable name (C(tcp_keepalive_*)) to its value.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the inputs
  ansible.builtin.set_fact:
    checked: >-
      {{ {'tcp_keepalive_profile': 'cloud', ...}
         | netstack.keepalive.keepalive_role_inputs }}
"""

RETURN = r"""
_value:
  description: The outcome.
  type: dict
  contains:
    valid:
      description: True when there is no problem.
      type: bool
    errors:
      description: One message per problem.
      type: list
      elements: str
    require:
      description: >-
        C(tcp_keepalive_require) with every entry as C({name, states}); a bare name checks
        C(established) sockets only. Null when the inputs are invalid.
      type: list
      elements: dict
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_role import (  # noqa: E402
    keepalive_role_inputs,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_role_inputs."""

    def filters(self):
        return {"keepalive_role_inputs": keepalive_role_inputs}

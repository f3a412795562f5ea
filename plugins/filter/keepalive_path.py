# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_path
author: netstack.keepalive contributors
version_added: 1.0.0
short_description: Resolve a network path of middleboxes with the source of every timeout
description:
  - Resolves path items (catalog ids, overrides C({id, idle_timeout}), custom boxes
    C({name, idle_timeout, layer, description})) into boxes and checks them.
  - An override outside the product's configurable range, an unknown id or a malformed item
    fails with a message naming the item, the value and the allowed range.
options:
  _input:
    description: The path items.
    type: list
    elements: raw
    required: true
"""

EXAMPLES = r"""
- name: Show where each timeout on the path comes from
  ansible.builtin.debug:
    msg: "{{ ['aws_nlb', {'name': 'corp-fw', 'idle_timeout': 900, 'layer': 4}]
             | netstack.keepalive.keepalive_path | map(attribute='source') }}"
"""

RETURN = r"""
_value:
  description: One mapping per box.
  type: list
  elements: dict
  contains:
    id:
      description: Catalog id or custom name.
      type: str
    product:
      description: Product name or custom description.
      type: str
    layer:
      description: 4 or 7.
      type: int
    idle_timeout:
      description: Idle timeout in seconds, or null when unknown.
      type: int
    origin:
      description: V(catalog), V(user override) or V(custom).
      type: str
    source:
      description: Where the timeout comes from.
      type: str
    confirmed:
      description: Confirmation of a catalog figure; null for overrides and custom boxes.
      type: str
    at_expiry:
      description: What the box does when the timer expires.
      type: str
    note:
      description: Catalog notes.
      type: str
    effect:
      description: What ends the flow at expiry
        (see P(netstack.keepalive.keepalive_catalog#filter)); V(unknown) for custom boxes.
      type: str
    source_url:
      description: The URL of the catalog entry's source; null for custom boxes.
      type: str
    verified:
      description: ISO date the catalog entry was last verified; null for overrides and
        custom boxes.
      type: str
    retired:
      description: ISO date the product was retired (its verdicts warn), or null.
      type: str
    successor:
      description: The catalog id to move to when the product is retired, or null.
      type: str
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_policy import (  # noqa: E402
    keepalive_path,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_path."""

    def filters(self):
        return {"keepalive_path": keepalive_path}

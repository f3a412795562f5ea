# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The policy inputs every plugin that derives or judges keepalive values takes: the
    # middleboxes on the path and the user profiles. A plugin whose O(profiles) has a default
    # adds it next to the fragment (the modules' argument specs have none).
    DOCUMENTATION = r"""
options:
  path:
    description:
      - "The middleboxes between the host and its peers. Each item is a catalog id
        (V(aws_nat_gateway)), an override C({id: aws_nlb, idle_timeout: 600}) checked against
        the product's configurable range, or a custom box
        C({name: corp-fw, idle_timeout: 900, layer: 4})."
      - See P(netstack.keepalive.keepalive_catalog#filter) for the ids.
    type: list
    elements: raw
    default: []
  profiles:
    description:
      - User profiles by name, merged over the built-in ones (a user profile replaces a
        built-in of the same name; C(base) with its own name extends the built-in).
    type: dict
"""

    # The profile whose requirements a check applies, for plugins that judge given values
    # (a plugin that derives values takes the profile as its input instead).
    PROFILE = r"""
options:
  profile:
    description:
      - The requirements to check against - a profile name (V(kernel_default), V(cloud),
        V(database), V(latency_sensitive), or a key of O(profiles)) or an inline profile
        mapping.
      - Not given - the defaults (C(tolerate_outage) 30 s, C(margin) 30 s, no
        C(detect_within)).
    type: raw
"""

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Use with ansible.builtin.action_common_attributes, which describes each attribute;
    # these say how the collection's modules support them.
    DOCUMENTATION = r"""
options: {}
attributes: {}
"""

    # Modules that run on a managed Linux host (netlink, /proc/sys, sysctl.d).
    LINUX = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
    details: Linux only; other systems get a clear error.
"""

    # Modules that show no diff.
    NO_DIFF = r"""
options: {}
attributes:
  diff_mode:
    support: none
"""

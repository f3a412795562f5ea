# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the role tcp_keepalive uses to plan and judge a host (docs in the .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._host_report import (
    host_report,
    plan,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._role_inputs import (
    check_role_inputs,
)


def keepalive_plan(profile, path=None, profiles=None, middlebox_check=True):
    try:
        return plan(profile, path, profiles, middlebox_check)
    except KeepaliveError as exc:
        raise AnsibleFilterError(str(exc))


def keepalive_role_inputs(variables):
    try:
        return check_role_inputs(variables)
    except KeepaliveError as exc:
        raise AnsibleFilterError(str(exc))


def keepalive_host_report(plan_result, host, **kwargs):
    try:
        return host_report(plan_result, host, **kwargs)
    except KeepaliveError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {
            "keepalive_plan": keepalive_plan,
            "keepalive_host_report": keepalive_host_report,
            "keepalive_role_inputs": keepalive_role_inputs,
        }

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bodies of the filters the role tcp_keepalive uses to check its inputs, plan and judge a host.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
Each filter is a thin wrapper over module_utils/_host_report.py or _role_inputs.py; errors
carry the policy code's message as it is. Each filter's entry point and documentation is
plugins/filter/<filter name>.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._role_inputs import (
    check_role_inputs,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_policy import (
    policy_call,
)


def keepalive_plan(profile, path=None, profiles=None, middlebox_check=True):
    """The values to set for a profile on a path, or why they must not be set."""
    return policy_call(None, plan_values, profile, path, profiles, middlebox_check)


def keepalive_role_inputs(variables):
    """``{valid, errors, require}`` for the role's variables."""
    return policy_call(None, check_role_inputs, variables)


def keepalive_host_report(plan_result, host, **kwargs):
    """The host report (schema 1) from the plan and the registered module results."""
    return policy_call(None, host_report, plan_result, host, **kwargs)

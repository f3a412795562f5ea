# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_verdicts
author: netstack.keepalive contributors
version_added: 1.0.0
short_description: Check TCP keepalive values against a network path and a profile
description:
  - Returns one verdict per check and subject, each
    C({check, subject, status, value, limit, message}) with status V(pass), V(warn) or V(fail).
  - "Checks: C(kernel_limits) (per value); C(middlebox_idle) (per layer-4 box: the first
    probe must leave before the box drops the idle connection, warn within the margin or when
    the box has no known timeout); C(application_heartbeat) (per proxy: always warn, kernel
    keepalive does not reset a proxy's timer; C(limit) is the recommended heartbeat interval,
    a third of the smallest proxy timeout or of C(detect_within)); C(detection_time) (when
    idle); C(busy_detection) (with data in flight, decided by O(retries2) or the profile's
    C(user_timeout), against C(detect_busy_within)); C(outage_tolerance) (too small a probe
    window kills connections on short blips); C(probe_rate) (only with O(socket_count))."
  - Values out of the kernel limits are reported as failing verdicts, not errors, because
    they may have been read from a host. Non-integers and booleans are errors.
positional: path
extends_documentation_fragment:
  - netstack.keepalive.policy
  - netstack.keepalive.policy.profile
options:
  _input:
    description: The values, a mapping with integer C(time), C(intvl) and C(probes).
    type: dict
    required: true
  profiles:
    default: {}
  socket_count:
    description: Number of keepalive sockets on the host; adds the C(probe_rate) check.
    type: int
  probe_rate_warn:
    description: Probes per second above which C(probe_rate) warns.
    type: int
    default: 1000
  retries2:
    description:
      - The namespace's C(net.ipv4.tcp_retries2), for the C(busy_detection) check.
      - When omitted the kernel default 15 is assumed, and the verdict says so.
    type: int
seealso:
  - plugin: netstack.keepalive.keepalive_summary
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Check the kernel defaults on a host behind an AWS NAT gateway
  ansible.builtin.debug:
    msg: >-
      {{ {'time': 7200, 'intvl': 75, 'probes': 9}
         | netstack.keepalive.keepalive_verdicts(['aws_nat_gateway'], profile='cloud')
         | selectattr('status', 'equalto', 'fail') | map(attribute='message') }}
  # "AWS NAT Gateway (aws_nat_gateway) drops an idle connection after 350 s (...);
  #  the first probe leaves at 7200 s: idle connections through it die silently; set time <= 320 s"

- name: Estimate the probe rate of 20000 keepalive sockets
  ansible.builtin.debug:
    msg: >-
      {{ {'time': 60, 'intvl': 10, 'probes': 3}
         | netstack.keepalive.keepalive_verdicts(socket_count=20000)
         | selectattr('check', 'equalto', 'probe_rate') | first }}
"""

RETURN = r"""
_value:
  description: The verdicts.
  type: list
  elements: dict
  contains:
    check:
      description: C(kernel_limits), C(middlebox_idle), C(application_heartbeat), C(detection_time),
        C(busy_detection), C(outage_tolerance) or C(probe_rate).
      type: str
      sample: middlebox_idle
    subject:
      description: What was checked, for example a value name, a middlebox id, C(peer), C(network)
        or C(host).
      type: str
      sample: aws_nat_gateway
    status:
      description: V(pass), V(warn) or V(fail).
      type: str
      sample: fail
    value:
      description: The measured figure (seconds, probes, or probes per second).
      type: raw
      sample: 7200
    limit:
      description: The figure it was compared with (null when none is known).
      type: raw
      sample: 320
    message:
      description: What it means and what to do.
      type: str
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_policy import (  # noqa: E402
    keepalive_verdicts,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_verdicts."""

    def filters(self):
        return {"keepalive_verdicts": keepalive_verdicts}

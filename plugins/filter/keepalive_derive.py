# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_derive
author: netstack.keepalive contributors
version_added: 1.0.0
short_description: Derive TCP keepalive values from a profile and a network path
description:
  - Turns a profile (service level) and the middleboxes on a host's network path into
    C(tcp_keepalive_time), C(tcp_keepalive_intvl) and C(tcp_keepalive_probes).
  - Missing values are derived so that the first probe leaves before the smallest layer-4
    idle timeout on the path minus O(profiles) C(margin), C(intvl x probes >= tolerate_outage)
    and C(time + intvl x probes <= detect_within), within the kernel limits. The largest
    C(time) that fits is chosen (at most the Linux default 7200 s), with the smallest probe
    window that covers C(tolerate_outage) and 3 probes preferred.
  - Explicit values in the profile are never changed; when they break a constraint the result
    lists the failing verdicts under RV(_value.violations).
  - Fails, naming the conflicting constraints and the gap in seconds, when no values can
    satisfy the requirements and the path.
  - Uses the same policy code as the role C(netstack.keepalive.tcp_keepalive).
positional: path, profiles
extends_documentation_fragment:
  - netstack.keepalive.policy
options:
  _input:
    description:
      - A profile name (V(kernel_default), V(cloud), V(database), V(latency_sensitive), or a
        key of O(profiles)) or an inline profile mapping.
      - "A profile mapping may hold C(time), C(intvl), C(probes) (explicit values),
        C(detect_within) (s), C(tolerate_outage) (s, default 30), C(margin) (s, default 30),
        C(base) (a profile to start from) and C(description)."
    type: raw
    required: true
  profiles:
    default: {}
seealso:
  - plugin: netstack.keepalive.keepalive_verdicts
    plugin_type: filter
  - plugin: netstack.keepalive.keepalive_catalog
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Values for a database host behind an AWS NLB and a NAT gateway
  ansible.builtin.debug:
    msg: "{{ 'database' | netstack.keepalive.keepalive_derive(['aws_nlb', 'aws_nat_gateway']) }}"
  # msg['values'] == {"time": 90, "intvl": 10, "probes": 3}

- name: An inline profile with an overridden NLB timeout and a custom firewall
  ansible.builtin.set_fact:
    keepalive: >-
      {{ {'detect_within': 600, 'tolerate_outage': 60}
         | netstack.keepalive.keepalive_derive([
             {'id': 'aws_nlb', 'idle_timeout': 1200},
             {'name': 'corp-fw', 'idle_timeout': 900, 'layer': 4}]) }}
  # keepalive['values'] == {"time": 540, "intvl": 20, "probes": 3}

- name: Apply the derived values with the collection's module
  netstack.keepalive.keepalive_sysctl:
    tcp_keepalive_time: "{{ keepalive.sysctl_args.tcp_keepalive_time }}"
    tcp_keepalive_intvl: "{{ keepalive.sysctl_args.tcp_keepalive_intvl }}"
    tcp_keepalive_probes: "{{ keepalive.sysctl_args.tcp_keepalive_probes }}"

- name: A user profile that tightens the built-in cloud profile
  ansible.builtin.debug:
    msg: >-
      {{ 'cloud' | netstack.keepalive.keepalive_derive(['azure_lb_standard'],
           profiles={'cloud': {'base': 'cloud', 'detect_within': 240}}) }}
"""

RETURN = r"""
_value:
  description: The derived values and everything that explains them.
  type: dict
  contains:
    profile:
      description: Name of the profile (V(inline) for a mapping).
      type: str
      sample: database
    values:
      description:
        - The keepalive values, keys C(time), C(intvl), C(probes).
        - In Jinja write C(result['values']); C(result.values) is the mapping's own method.
      type: dict
      sample: {"time": 90, "intvl": 10, "probes": 3}
    sysctl_args:
      description:
        - The same values as the options of M(netstack.keepalive.keepalive_sysctl).
        - With C(tcp_retries2) too when one is proposed (see RV(_value.retries2)).
      type: dict
      sample: {"tcp_keepalive_time": 90, "tcp_keepalive_intvl": 10, "tcp_keepalive_probes": 3}
    provenance:
      description: Per value, C(value), C(origin) (V(explicit) or V(derived)) and C(reason).
      type: dict
      sample:
        time: {"value": 90, "origin": "derived",
               "reason": "largest time that fits: detect_within 120 s minus the probe window 30 s"}
    requirements:
      description: The C(detect_within), C(tolerate_outage) and C(margin) used.
      type: dict
      sample: {"detect_within": 120, "tolerate_outage": 30, "margin": 30}
    defaults_used:
      description: Requirements that took their default.
      type: list
      elements: str
      sample: ["margin"]
    detection_time:
      description: Worst-case seconds to notice a dead peer when idle, C(time + intvl x probes).
      type: int
      sample: 120
    detection_idle:
      description: The same, in seconds as a float.
      type: float
      sample: 120.0
    detection_busy:
      description:
        - Seconds to notice a dead peer with data in flight (keepalive does not probe then),
          from the proposed C(tcp_retries2), else the kernel default 15, or from the
          profile's C(user_timeout).
      type: float
      sample: 1044.6
    busy_requirements:
      description: The C(detect_busy_within) and C(user_timeout) of the profile (null when not set).
      type: dict
      sample: {"detect_busy_within": 120, "user_timeout": null}
    retries2:
      description:
        - The proposed C(net.ipv4.tcp_retries2), only when the profile sets
          C(detect_busy_within) and no C(user_timeout); else null.
        - C(value), C(origin), C(reason), C(scope) (it applies to every connection of the
          namespace), C(detection) (s) and C(tolerates) (the shortest outage that can drop a
          busy connection, s).
      type: dict
      sample: {"value": 7, "origin": "derived", "detection": 102.2, "tolerates": 51.2}
    limiting_box:
      description: The layer-4 box with the smallest known idle timeout, or null.
      type: dict
    path:
      description: The resolved path, as P(netstack.keepalive.keepalive_path#filter) returns it.
      type: list
      elements: dict
    verdicts:
      description: All verdicts for the values, as
        P(netstack.keepalive.keepalive_verdicts#filter) returns them.
      type: list
      elements: dict
    violations:
      description: The failing verdicts (explicit values that break a constraint).
      type: list
      elements: dict
    summary:
      description: Worst status, counts and problems, as
        P(netstack.keepalive.keepalive_summary#filter) returns them.
      type: dict
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_policy import (  # noqa: E402
    keepalive_derive,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_derive."""

    def filters(self):
        return {"keepalive_derive": keepalive_derive}

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: keepalive_catalog
author: netstack.keepalive contributors
version_added: 1.0.0
short_description: Look up a middlebox in the built-in idle-timeout catalog
description:
  - Returns the catalog entry for a middlebox id, with the default idle timeout, the
    configurable range, the layer (4 when kernel keepalive resets the timer, 7 for proxies),
    the behaviour at expiry, the source of the figure with its URL and the date it was last
    verified.
  - An unknown id fails with the closest known ids.
  - "Ids: aws_alb, aws_nlb, aws_gwlb, aws_clb, aws_nat_gateway, aws_global_accelerator,
    aws_sg_conntrack, aws_network_firewall, azure_lb_standard, azure_lb_basic (retired),
    azure_nat_gateway, azure_app_gateway, azure_firewall, gcp_cloud_nat, gcp_vpc_firewall,
    gcp_internal_nlb, gcp_external_nlb, gcp_external_alb, gcp_external_alb_client, oci_nlb,
    oci_lb, cloudflare_proxy, cloudflare_proxy_client, cloudflare_gateway, linux_conntrack,
    kube_proxy, kube_proxy_ipvs, cilium_conntrack, haproxy, envoy, nginx, rfc5382_nat,
    home_nat, mobile_nat."
  - The collection's C(docs/catalog.md) shows every entry in tables.
options:
  _input:
    description: A catalog id.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: How long does an AWS NAT gateway keep an idle TCP connection?
  ansible.builtin.debug:
    msg: "{{ ('aws_nat_gateway' | netstack.keepalive.keepalive_catalog).idle_timeout }} s"
  # "350 s"
"""

RETURN = r"""
_value:
  description: The catalog entry.
  type: dict
  contains:
    id:
      description: The catalog id.
      type: str
      sample: aws_nat_gateway
    provider:
      description: Cloud or software vendor.
      type: str
      sample: aws
    product:
      description: Product name.
      type: str
      sample: AWS NAT Gateway
    timer:
      description: The timer the figure belongs to.
      type: str
      sample: TCP idle
    idle_timeout:
      description: Default idle timeout in seconds (the smallest applicable timer); null when
        no figure is known.
      type: int
      sample: 350
    configurable:
      description: V(range) (overrides must lie in C(timeout_range)), V(minimum) (overrides
        must be at least the default), V(fixed) or V(unknown).
      type: str
      sample: fixed
    timeout_range:
      description: C([min, max]) in seconds for V(range) entries (max null = no documented
        maximum), else null.
      type: list
      elements: int
    layer:
      description: 4 when kernel keepalive probes reset the timer, 7 when only data does.
      type: int
      sample: 4
    at_expiry:
      description: What the box does when the timer expires.
      type: str
    effect:
      description: What ends the flow at expiry, V(drop), V(reset), V(close), V(rehash) (the
        next packet is load-balanced afresh, usually to the same backend; verdicts warn
        instead of failing) or V(unknown).
      type: str
      sample: drop
    source:
      description: Where the figure comes from.
      type: str
      sample: AWS VPC NAT gateway troubleshooting documentation
    source_url:
      description: The URL of the source.
      type: str
      sample: https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html
    verified:
      description: ISO date the entry was last checked against its source.
      type: str
      sample: "2026-12-02"
    retired:
      description: ISO date the product was retired (its verdicts warn), or null.
      type: str
    successor:
      description: The id of the entry to move to when the product is retired, or null.
      type: str
    confirmed:
      description: V(confirmed), V(partial) or V(unconfirmed).
      type: str
      sample: confirmed
    note:
      description: Other timers and caveats.
      type: str
"""

from ansible_collections.netstack.keepalive.plugins.plugin_utils._filters_policy import (  # noqa: E402
    keepalive_catalog,
)


class FilterModule:
    """The filter netstack.keepalive.keepalive_catalog."""

    def filters(self):
        return {"keepalive_catalog": keepalive_catalog}

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in catalog of middlebox idle timeouts (pure data, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.

Every entry records the product, its default, the configurable range, the layer, the
behaviour at expiry, the vendor source and how well the figure is confirmed.

How to read an entry:
- ``idle_timeout`` is the timer that ends an *idle established* connection soonest at the
  product's defaults. Where a product has several timers (an HTTP keep-alive and a TCP idle
  timer, a client and a backend side) the smallest applicable one is taken, because a setting
  that survives the smallest survives them all; ``note`` names the others.
  ``None`` means no source gives a figure (HAProxy: no timeout unless configured; mobile
  carrier NAT: no reliable figure). Verdicts turn ``None`` into a warning, never a pass.
- ``configurable`` is ``range`` (an override must lie in ``timeout_range``; a ``None`` upper
  bound means no documented maximum), ``fixed`` (the vendor does not allow a change: an
  override that differs from the default is refused, describe a different box as a custom
  one) or ``unknown`` (no source could say: any positive override is accepted).
- ``layer`` is 4 when kernel keepalive probes reset the timer (NAT, L4 load balancers,
  firewalls, conntrack) and 7 when only application data does (terminating proxies).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
from collections import namedtuple

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)

CONFIRMED = "confirmed"
PARTIAL = "partial"
UNCONFIRMED = "unconfirmed"
CONFIRMATION_STATES = (CONFIRMED, PARTIAL, UNCONFIRMED)
CONFIGURABLE_STATES = ("range", "fixed", "unknown")
LAYERS = (4, 7)

_FIELDS = (
    "id",
    "provider",
    "product",
    "timer",
    "idle_timeout",
    "configurable",
    "timeout_range",
    "layer",
    "at_expiry",
    "source",
    "confirmed",
    "note",
)


class CatalogEntry(namedtuple("CatalogEntry", _FIELDS)):
    """One middlebox product; immutable. ``to_dict()`` gives plain data for Ansible."""

    __slots__ = ()

    def to_dict(self):
        data = dict(self._asdict())
        if self.timeout_range is not None:
            data["timeout_range"] = list(self.timeout_range)
        return data


def _entry(*fields):
    """Build an entry from positional fields; ``note`` may be left out."""
    return CatalogEntry(*(fields + ("",) * (len(_FIELDS) - len(fields))))


# fmt: off
_ENTRIES = (
    # AWS
    _entry("aws_alb", "aws", "AWS Application Load Balancer",
           "connection idle, needs at least one data byte", 60, "range", (1, 4000), 7,
           "LB closes the connection",
           "ELBv2 load balancer attribute idle_timeout.timeout_seconds", CONFIRMED,
           "client keep-alive duration 3600 s (60-604800) also applies"),
    _entry("aws_nlb", "aws", "AWS Network Load Balancer (TCP listener)", "TCP flow idle", 350,
           "range", (60, 6000), 4, "silent; the next sender gets RST",
           'AWS docs "Update the TCP idle timeout for your Network Load Balancer listener"',
           CONFIRMED, "TLS listeners keep a fixed 350 s; older docs: fixed 350 s"),
    _entry("aws_gwlb", "aws", "AWS Gateway Load Balancer", "flow idle", 350, "range", (60, 6000),
           4, "silent, or RST if enabled", "AWS Gateway Load Balancer listeners documentation",
           CONFIRMED, "optional RST on idle timeout"),
    _entry("aws_nat_gateway", "aws", "AWS NAT Gateway", "TCP idle", 350, "fixed", None, 4,
           "silent; RST to the inside host on its next send",
           "AWS VPC NAT gateway troubleshooting documentation", CONFIRMED),
    _entry("aws_global_accelerator", "aws", "AWS Global Accelerator", "TCP idle, needs data",
           340, "fixed", None, 7, "closes the connection",
           'AWS docs "How AWS Global Accelerator works"', CONFIRMED),
    _entry("aws_sg_conntrack", "aws", "AWS security group connection tracking",
           "established TCP idle", 350, "range", (60, 432000), 4, "state dropped silently",
           "EC2 API ConnectionTrackingConfiguration (TcpEstablishedTimeout)", CONFIRMED,
           "350 s on Nitro v6 instance types, 432000 s (5 days) on earlier ones: override "
           "with 432000 if yours is earlier"),
    _entry("aws_network_firewall", "aws", "AWS Network Firewall", "TCP idle", 350, "range",
           (60, 6000), 4, "drops data; the next SYN starts a new flow",
           "AWS Network Firewall API FlowTimeouts (TcpIdleTimeoutSeconds)", CONFIRMED),
    # Azure
    _entry("azure_lb_standard", "azure", "Azure Load Balancer (Standard)",
           "TCP idle (LB rules, inbound and outbound NAT rules)", 240, "range", (240, 6000), 4,
           "silent; optional RST to both sides",
           "Azure docs load-balancer-tcp-idle-timeout", CONFIRMED,
           "configurable 4-100 min (older docs: 4-30 min)"),
    _entry("azure_lb_basic", "azure", "Azure Load Balancer (Basic)", "TCP idle", 240, "range",
           (240, 1800), 4, "silent", "commonly cited; no vendor text found", UNCONFIRMED,
           "configurable 4-30 min"),
    _entry("azure_nat_gateway", "azure", "Azure NAT Gateway", "TCP idle", 240, "range",
           (240, 7200), 4, "silent; one-way RST on the next packet",
           "Azure docs nat-gateway-resource", CONFIRMED, "configurable 4-120 min"),
    _entry("azure_app_gateway", "azure", "Azure Application Gateway",
           "HTTP keep-alive (v2); front-end TCP idle 240 s", 75, "fixed", None, 7, "not stated",
           "Azure Application Gateway FAQ", CONFIRMED,
           "front-end TCP idle 240 s; HTTP keep-alive 120 s on v1, 75 s on v2 (the smallest "
           "is taken)"),
    _entry("azure_firewall", "azure", "Azure Firewall", "TCP idle", 240, "fixed", None, 4,
           "no guarantee the session survives", "Azure Firewall FAQ", CONFIRMED),
    # Google Cloud
    _entry("gcp_cloud_nat", "gcp", "Google Cloud NAT", "TCP established idle", 1200, "range",
           (1, None), 4, "mapping dropped silently",
           "Compute API RouterNat tcpEstablishedIdleTimeoutSec", PARTIAL,
           "transitory 30 s and TIME_WAIT 120 s apply to connections not established; "
           "behaviour at expiry only partly documented"),
    _entry("gcp_vpc_firewall", "gcp", "Google Cloud VPC firewall connection tracking",
           "tracked idle connection", 600, "unknown", None, 4,
           "packets fall through to the rules (implied deny ingress)",
           "Compute Engine troubleshooting documentation", CONFIRMED,
           "configurability not documented"),
    _entry("gcp_internal_nlb", "gcp", "Google Cloud internal passthrough Network Load Balancer",
           "connection tracking idle", 600, "range", (1, 57600), 4,
           "the next packet is re-hashed",
           "Google Cloud backend service connection tracking policy", PARTIAL,
           "up to 16 h with PER_SESSION tracking only; values confirmed, behaviour partly"),
    _entry("gcp_external_nlb", "gcp", "Google Cloud external passthrough Network Load Balancer",
           "connection tracking idle", 60, "unknown", None, 4, "the next packet is re-hashed",
           "Google Cloud load balancing documentation (partial)", PARTIAL,
           "configurability not public"),
    _entry("gcp_external_alb", "gcp", "Google Cloud global external Application Load Balancer",
           "backend keep-alive; client keep-alive 610 s", 600, "range", (5, 1200), 7,
           "closes the connection", "Compute API TargetHttpProxy.httpKeepAliveTimeoutSec",
           CONFIRMED, "client keep-alive 610 s (5-1200), backend keep-alive 600 s"),
    # Oracle Cloud
    _entry("oci_nlb", "oci", "Oracle Cloud Network Load Balancer", "TCP idle", 360, "range",
           (1, None), 4, "not found", "OCI Network Load Balancer documentation (default only)",
           CONFIRMED, "configurable through the CLI/API, range not documented"),
    _entry("oci_lb", "oci", "Oracle Cloud Load Balancer", "client keep-alive; backend idle 300 s",
           65, "fixed", None, 7, "closes the connection", "OCI Load Balancer documentation",
           PARTIAL, "backend idle 300 s, client keep-alive 65 s (the smallest is taken)"),
    # Cloudflare
    _entry("cloudflare_proxy", "cloudflare", "Cloudflare proxy (origin side)", "proxy idle", 900,
           "fixed", None, 7, "HTTP 520 error", 'Cloudflare docs "Connection limits"', CONFIRMED),
    _entry("cloudflare_gateway", "cloudflare", "Cloudflare Zero Trust Gateway", "TCP idle", 270,
           "unknown", None, 7, "dropped; TCP keepalives do not help",
           "Cloudflare Zero Trust Gateway documentation", CONFIRMED,
           "configurability not found"),
    # Linux and Kubernetes
    _entry("linux_conntrack", "linux", "Linux netfilter conntrack",
           "nf_conntrack_tcp_timeout_established", 432000, "range", (1, None), 4, "silent",
           "kernel documentation nf_conntrack-sysctl", CONFIRMED,
           "set with the sysctl net.netfilter.nf_conntrack_tcp_timeout_established"),
    _entry("kube_proxy", "kubernetes", "kube-proxy conntrack", "established idle", 86400,
           "range", (1, None), 4, "silent", "kube-proxy command-line reference", CONFIRMED,
           "--conntrack-tcp-timeout-established; CLOSE_WAIT 3600 s applies to closing flows"),
    # Proxies
    _entry("haproxy", "haproxy", "HAProxy", "timeout client / server / tunnel", None, "range",
           (1, None), 7, "closes the connection", "HAProxy configuration manual", CONFIRMED,
           "no timeout unless configured; HAProxy warns at startup"),
    _entry("envoy", "envoy", "Envoy", "HTTP connection manager / TcpProxy idle_timeout", 3600,
           "range", (1, None), 7, "closes the connection", "Envoy API documentation",
           CONFIRMED),
    _entry("nginx", "nginx", "NGINX", "proxy_read_timeout; keepalive_timeout 75 s", 60, "range",
           (1, None), 7, "closes the connection", "NGINX module documentation", PARTIAL,
           "keepalive_timeout 75 s, proxy_read_timeout 60 s, stream proxy_timeout 600 s "
           "(the smallest is taken; override with the one your traffic meets)"),
    # NAT in general
    _entry("rfc5382_nat", "ietf", "NAT conforming to RFC 5382 REQ-5", "established idle", 7440,
           "fixed", None, 4, "not specified", "RFC 5382 section 5 (REQ-5: at least 2 h 4 min)",
           CONFIRMED, "a lower bound required of conforming NATs"),
    _entry("home_nat", "generic", "Home or carrier-grade NAT (observed)", "TCP idle", 600,
           "unknown", None, 4, "usually silent", "field reports", PARTIAL,
           "600 to 7200 s seen and often lower: the lowest reported figure is taken; measure "
           "yours and override"),
    _entry("mobile_nat", "generic", "Mobile carrier NAT", "TCP idle", None, "unknown", None, 4,
           "not known", "no reliable published figure", UNCONFIRMED,
           "no reliable figure"),
)
# fmt: on

CATALOG = {entry.id: entry for entry in _ENTRIES}


def catalog_ids(catalog=None):
    """Return the ids of ``catalog`` (default: the built-in one), sorted."""
    return sorted(CATALOG if catalog is None else catalog)


def close_matches(name, catalog=None):
    """Return up to five catalog ids that look like ``name`` (typos, partial names)."""
    ids = catalog_ids(catalog)
    text = str(name).lower()
    # Names that contain what was typed come first ("azure_lb" -> both Azure LBs), then typos.
    matches = [i for i in ids if text and text in i]
    matches += [
        i for i in difflib.get_close_matches(text, ids, n=5, cutoff=0.6) if i not in matches
    ]
    return matches[:5]


def get_entry(entry_id, catalog=None):
    """Return the ``CatalogEntry`` for ``entry_id`` or raise ``KeepaliveError`` with hints."""
    entries = CATALOG if catalog is None else catalog
    if isinstance(entry_id, str) and entry_id in entries:
        return entries[entry_id]
    hints = close_matches(entry_id, entries)
    hint = (
        "did you mean: %s?" % ", ".join(hints)
        if hints
        else "known ids: %s" % ", ".join(catalog_ids(entries))
    )
    raise KeepaliveError(
        "unknown middlebox id %r; %s" % (entry_id, hint), id=entry_id, close_matches=hints
    )

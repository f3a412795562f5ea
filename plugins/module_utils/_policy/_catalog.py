# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in catalog of middlebox idle timeouts (pure data, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.

Every entry records the product, its default, the configurable range, the layer, what the
box does to a flow when the timer expires, the vendor source (its name and URL), the date
the entry was last checked against that source, how well the figure is confirmed and, for
products no longer offered, the date they were retired. ``docs/catalog.md`` is generated
from this module by ``scripts/catalog-doc.py``.

How to read an entry:
- ``idle_timeout`` is the timer that ends an *idle established* connection soonest at the
  product's defaults. Where a product has several timers (an HTTP keep-alive and a TCP idle
  timer) the smallest applicable one is taken, because a setting that survives the smallest
  survives them all; ``note`` names the others. Where the two sides of a proxy have
  different timers, each side is its own entry (``cloudflare_proxy`` and
  ``cloudflare_proxy_client``). ``None`` means no source gives a figure (HAProxy: no
  timeout unless configured; mobile carrier NAT: no reliable figure). Verdicts turn
  ``None`` into a warning, never a pass.
- ``configurable`` is ``range`` (an override must lie in ``timeout_range``; a ``None`` upper
  bound means no documented maximum), ``minimum`` (a standard's floor: an override must be
  at least the default, longer is allowed), ``fixed`` (the vendor does not allow a change:
  an override that differs from the default is refused, describe a different box as a
  custom one) or ``unknown`` (no source could say: any positive override is accepted).
- ``layer`` is 4 when kernel keepalive probes reset the timer (NAT, L4 load balancers,
  firewalls, conntrack) and 7 when only application data does (terminating proxies, and
  boxes whose vendor says keepalive probes do not keep a connection open).
- ``effect`` is what ends the flow at expiry, one of ``EFFECTS``; ``at_expiry`` says it in
  the vendor's words. A box whose effect is in ``SURVIVABLE_EFFECTS`` forgets the flow but
  usually keeps it working, so an expired timer is a warning there, not a failure.
- ``verified`` is the ISO date the entry was last checked against ``source_url``;
  ``retired`` is the ISO date the vendor stopped offering the product (None while it is
  offered) and ``successor`` the id of the entry to move to. Retired entries still resolve;
  every verdict about them warns.
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
RANGE = "range"
MINIMUM = "minimum"
FIXED = "fixed"
UNKNOWN = "unknown"
CONFIGURABLE_STATES = (RANGE, MINIMUM, FIXED, UNKNOWN)
LAYERS = (4, 7)

# What ends a flow when the box's idle timer expires (an entry's ``effect``).
DROP = "drop"  # the state is forgotten: later packets are dropped, or answered with RST
RESET = "reset"  # the box itself sends a TCP RST
CLOSE = "close"  # a proxy closes its connection
REHASH = "rehash"  # the state is forgotten, the next packet is load-balanced afresh
EFFECT_UNKNOWN = "unknown"  # no source says
EFFECTS = (DROP, RESET, CLOSE, REHASH, EFFECT_UNKNOWN)
# A re-hashed flow lands on the same backend while the backend pool is unchanged (consistent
# hashing): it breaks only on a backend change or failover, a risk rather than a certainty.
SURVIVABLE_EFFECTS = (REHASH,)
EFFECT_MEANINGS = {
    DROP: "state dropped: later packets are lost or refused",
    RESET: "the box sends a TCP RST",
    CLOSE: "the proxy closes the connection",
    REHASH: "the next packet is re-hashed, usually to the same backend",
    EFFECT_UNKNOWN: "not documented",
}

# The day the entries were last checked against their sources: the December 2026 review of
# every vendor page (its corrections are in these entries' values and notes).
REVIEWED = "2026-12-02"

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
    "effect",
    "source",
    "source_url",
    "verified",
    "confirmed",
    "retired",
    "successor",
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


def _entry(*fields, **extra):
    """An entry from its fields up to ``confirmed`` in order; ``note``, ``retired`` and
    ``successor`` by name, ``verified`` defaults to the last review."""
    names = _FIELDS[:9] + ("effect", "source", "source_url", "confirmed")
    data = dict((name, fields[index]) for index, name in enumerate(names))
    data.update(extra)
    data.setdefault("verified", REVIEWED)
    data.setdefault("retired", None)
    data.setdefault("successor", None)
    data.setdefault("note", "")
    return CatalogEntry(**data)


_AWS_ELB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/"
_AZURE = "https://learn.microsoft.com/en-us/azure/"
_GCP_LB = "https://cloud.google.com/load-balancing/docs/"
_OCI = "https://docs.oracle.com/en-us/iaas/Content/"
_KUBE_PROXY = "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-proxy/"
_CLOUDFLARE_LIMITS = "https://developers.cloudflare.com/fundamentals/reference/connection-limits/"

# fmt: off
_ENTRIES = (
    # AWS
    _entry("aws_alb", "aws", "AWS Application Load Balancer",
           "connection idle, needs at least one data byte", 60, RANGE, (1, 4000), 7,
           "LB closes the connection", CLOSE,
           "ELBv2 load balancer attribute idle_timeout.timeout_seconds",
           _AWS_ELB + "application/edit-load-balancer-attributes.html", CONFIRMED,
           note="client keep-alive duration 3600 s (60-604800) also applies"),
    _entry("aws_nlb", "aws", "AWS Network Load Balancer (TCP listener)", "TCP flow idle", 350,
           RANGE, (60, 6000), 4, "silent; the next sender gets RST", DROP,
           'AWS docs "Update the TCP idle timeout for your Network Load Balancer listener"',
           _AWS_ELB + "network/update-idle-timeout.html", CONFIRMED,
           note="TLS listeners keep a fixed 350 s; older docs: fixed 350 s"),
    _entry("aws_gwlb", "aws", "AWS Gateway Load Balancer", "flow idle", 350, RANGE, (60, 6000),
           4, "silent, or RST if enabled", DROP,
           'AWS docs "Update the TCP idle timeout for your Gateway Load Balancer listener"',
           _AWS_ELB + "gateway/update-idle-timeout.html", CONFIRMED,
           note="optional RST on idle timeout"),
    _entry("aws_clb", "aws", "AWS Classic Load Balancer", "connection idle, needs data", 60,
           RANGE, (1, 4000), 7, "LB closes the connection", CLOSE,
           'AWS docs "Configure the idle connection timeout for your Classic Load Balancer"',
           _AWS_ELB + "classic/config-idle-timeout.html", CONFIRMED,
           note="TCP keep-alive probes carry no data and do not keep the connection open, "
           "even on TCP listeners: send data (an application heartbeat)"),
    _entry("aws_nat_gateway", "aws", "AWS NAT Gateway", "TCP idle", 350, FIXED, None, 4,
           "silent; RST to the inside host on its next send", DROP,
           "AWS VPC NAT gateway troubleshooting documentation",
           "https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html",
           CONFIRMED),
    _entry("aws_global_accelerator", "aws", "AWS Global Accelerator", "TCP idle, needs data",
           340, FIXED, None, 7, "closes the connection", CLOSE,
           'AWS docs "How AWS Global Accelerator works"',
           "https://docs.aws.amazon.com/global-accelerator/latest/dg/"
           "introduction-how-it-works.html", PARTIAL,
           note="the fixed 340 s is documented; no AWS text says keepalive probes cannot reset "
           "it, so layer 7 is an unconfirmed, cautious reading: measure your path"),
    _entry("aws_sg_conntrack", "aws", "AWS security group connection tracking",
           "established TCP idle", 350, RANGE, (60, 432000), 4, "state dropped silently", DROP,
           "EC2 API ConnectionTrackingConfiguration (TcpEstablishedTimeout)",
           "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/"
           "security-group-connection-tracking.html", CONFIRMED,
           note="350 s on Nitro v6 instance types, 432000 s (5 days) on earlier ones: override "
           "with 432000 if yours is earlier"),
    _entry("aws_network_firewall", "aws", "AWS Network Firewall", "TCP idle", 350, RANGE,
           (60, 6000), 4, "drops data; the next SYN starts a new flow", DROP,
           "AWS Network Firewall API FlowTimeouts (TcpIdleTimeoutSeconds)",
           "https://docs.aws.amazon.com/network-firewall/latest/APIReference/"
           "API_FlowTimeouts.html", CONFIRMED),
    # Azure
    _entry("azure_lb_standard", "azure", "Azure Load Balancer (Standard)",
           "TCP idle (LB rules, inbound and outbound NAT rules)", 240, RANGE, (240, 6000), 4,
           "silent; optional RST to both sides", DROP,
           "Azure docs load-balancer-tcp-idle-timeout",
           _AZURE + "load-balancer/load-balancer-tcp-idle-timeout", CONFIRMED,
           note="configurable 4-100 min (older docs: 4-30 min)"),
    _entry("azure_lb_basic", "azure", "Azure Load Balancer (Basic)", "TCP idle", 240, RANGE,
           (240, 1800), 4, "silent", DROP,
           "retirement: Azure Basic Load Balancer upgrade guidance; timeout figure: commonly "
           "cited, no vendor text found",
           _AZURE + "load-balancer/load-balancer-basic-upgrade-guidance", UNCONFIRMED,
           retired="2025-09-30", successor="azure_lb_standard",
           note="configurable 4-30 min while it was offered"),
    _entry("azure_nat_gateway", "azure", "Azure NAT Gateway", "TCP idle", 240, RANGE,
           (240, 7200), 4, "silent; one-way RST on the next packet", DROP,
           "Azure docs nat-gateway-resource", _AZURE + "nat-gateway/nat-gateway-resource",
           CONFIRMED, note="configurable 4-120 min"),
    _entry("azure_app_gateway", "azure", "Azure Application Gateway",
           "HTTP keep-alive (v2); front-end TCP idle 240 s", 75, FIXED, None, 7, "not stated",
           EFFECT_UNKNOWN, "Azure Application Gateway FAQ",
           _AZURE + "application-gateway/application-gateway-faq", CONFIRMED,
           note="front-end TCP idle 240 s; HTTP keep-alive 120 s on v1, 75 s on v2 (the "
           "smallest is taken)"),
    _entry("azure_firewall", "azure", "Azure Firewall", "TCP idle", 240, RANGE, (240, 1800), 4,
           "sends a TCP RST at the idle timeout", RESET, "Azure Firewall FAQ",
           _AZURE + "firewall/firewall-faq", CONFIRMED,
           note="4 min for north-south (internet) traffic; only Azure support can raise it (up "
           "to 30 min in the current FAQ, 15 min in older versions)"),
    # Google Cloud
    _entry("gcp_cloud_nat", "gcp", "Google Cloud NAT", "TCP established idle", 1200, RANGE,
           (1, None), 4, "mapping dropped silently", DROP,
           "Compute API RouterNat tcpEstablishedIdleTimeoutSec",
           "https://cloud.google.com/compute/docs/reference/rest/v1/routers", PARTIAL,
           note="transitory 30 s and TIME_WAIT 120 s apply to connections not established; "
           "behaviour at expiry only partly documented"),
    _entry("gcp_vpc_firewall", "gcp", "Google Cloud VPC firewall connection tracking",
           "tracked idle connection", 600, UNKNOWN, None, 4,
           "packets fall through to the rules (implied deny ingress)", DROP,
           "Compute Engine troubleshooting documentation",
           "https://cloud.google.com/compute/docs/troubleshooting/general-tips", CONFIRMED,
           note="configurability not documented"),
    _entry("gcp_internal_nlb", "gcp", "Google Cloud internal passthrough Network Load Balancer",
           "connection tracking idle", 600, RANGE, (1, 57600), 4,
           "the next packet is re-hashed", REHASH,
           "Google Cloud backend service connection tracking policy",
           "https://cloud.google.com/compute/docs/reference/rest/v1/backendServices", PARTIAL,
           note="up to 16 h with PER_SESSION tracking only; values confirmed, behaviour partly; "
           "a re-hashed flow keeps its backend unless the backends change"),
    _entry("gcp_external_nlb", "gcp", "Google Cloud external passthrough Network Load Balancer",
           "connection tracking entry lifetime", 60, UNKNOWN, None, 4,
           "the next packet is re-hashed, with consistent hashing usually to the same backend",
           REHASH, "Google Cloud external passthrough NLB traffic distribution",
           _GCP_LB + "network/ext-netlb-traffic-distribution", PARTIAL,
           note="the entry lifetime is not public; an expired entry breaks a connection only "
           "when the backend pool changes or fails over"),
    _entry("gcp_external_alb", "gcp",
           "Google Cloud global external Application Load Balancer (backend side)",
           "backend keep-alive", 600, FIXED, None, 7, "closes the connection", CLOSE,
           'Google Cloud docs "Request distribution for external Application Load Balancers"',
           _GCP_LB + "https/request-distribution", CONFIRMED,
           note="the load balancer's connections to the backends; the client side is "
           "gcp_external_alb_client"),
    _entry("gcp_external_alb_client", "gcp",
           "Google Cloud global external Application Load Balancer (client side)",
           "client HTTP keep-alive", 610, RANGE, (5, 1200), 7, "closes the connection", CLOSE,
           "Compute API TargetHttpProxy.httpKeepAliveTimeoutSec",
           "https://cloud.google.com/compute/docs/reference/rest/v1/targetHttpProxies", CONFIRMED,
           note="the clients' connections to the load balancer; the backend side is "
           "gcp_external_alb"),
    # Oracle Cloud
    _entry("oci_nlb", "oci", "Oracle Cloud Network Load Balancer", "TCP idle", 360, RANGE,
           (1, None), 4, "not found", EFFECT_UNKNOWN,
           'OCI docs "Changing a Listener\'s Idle Timeout"',
           _OCI + "NetworkLoadBalancer/NetworkLoadBalancers/configure-idle-timeout.htm",
           CONFIRMED, note="configurable through the CLI/API only, range not documented"),
    _entry("oci_lb", "oci", "Oracle Cloud Load Balancer", "client HTTP keep-alive", 65, RANGE,
           (1, None), 7, "closes the connection", CLOSE,
           'OCI docs "Load Balancer Timeout Connection Settings"',
           _OCI + "Balance/Reference/connectionreuse.htm", CONFIRMED,
           note="the client keep-alive 65 s is fixed; the listener idle timeout is "
           "configurable (override with it when it governs your connections, as on TCP "
           "listeners); idle backend connections are closed after 300 s"),
    # Cloudflare
    _entry("cloudflare_proxy", "cloudflare", "Cloudflare proxy (origin side)",
           "proxy idle", 900, FIXED, None, 7, "HTTP 520 error", CLOSE,
           'Cloudflare docs "Connection limits"', _CLOUDFLARE_LIMITS, CONFIRMED,
           note="Cloudflare's connections to the origin; the client side is "
           "cloudflare_proxy_client; Proxy Read Timeout (waiting for a response) 120 s, "
           "configurable on Enterprise plans (100 s in older docs)"),
    _entry("cloudflare_proxy_client", "cloudflare", "Cloudflare proxy (client side)",
           "HTTP/1.1 keep-alive, HTTP/2 connection idle", 400, FIXED, None, 7,
           "TCP connection closed", CLOSE, 'Cloudflare docs "Connection limits"',
           _CLOUDFLARE_LIMITS, CONFIRMED,
           note="the clients' connections to Cloudflare; the origin side is cloudflare_proxy"),
    _entry("cloudflare_gateway", "cloudflare", "Cloudflare Zero Trust Gateway", "TCP idle", 270,
           UNKNOWN, None, 7, "dropped; TCP keepalives do not help", DROP,
           'Cloudflare Zero Trust docs, Gateway "Proxy"',
           "https://developers.cloudflare.com/cloudflare-one/policies/gateway/proxy/", CONFIRMED,
           note="configurability not found"),
    # Linux and Kubernetes
    _entry("linux_conntrack", "linux", "Linux netfilter conntrack",
           "nf_conntrack_tcp_timeout_established", 432000, RANGE, (1, None), 4, "silent", DROP,
           "kernel documentation nf_conntrack-sysctl",
           "https://docs.kernel.org/networking/nf_conntrack-sysctl.html", CONFIRMED,
           note="set with the sysctl net.netfilter.nf_conntrack_tcp_timeout_established"),
    _entry("kube_proxy", "kubernetes", "kube-proxy conntrack (iptables mode)",
           "established idle", 86400, RANGE, (1, None), 4, "silent", DROP,
           "kube-proxy command-line reference", _KUBE_PROXY, CONFIRMED,
           note="--conntrack-tcp-timeout-established; CLOSE_WAIT 3600 s applies to closing "
           "flows; IPVS mode is kube_proxy_ipvs"),
    _entry("kube_proxy_ipvs", "kubernetes", "kube-proxy IPVS mode", "IPVS TCP established idle",
           900, RANGE, (1, None), 4, "IPVS entry removed silently", DROP,
           "kube-proxy command-line reference (--ipvs-tcp-timeout)", _KUBE_PROXY, CONFIRMED,
           note="--ipvs-tcp-timeout, default 0 keeps the system's 900 s: the most common idle "
           "drop in Kubernetes"),
    _entry("cilium_conntrack", "kubernetes", "Cilium connection tracking (eBPF)",
           "bpf-ct-timeout-regular-tcp", 8000, RANGE, (1, None), 4, "entry removed silently",
           DROP, "cilium-agent command reference (--bpf-ct-timeout-regular-tcp)",
           "https://docs.cilium.io/en/stable/cmdref/cilium-agent/", CONFIRMED,
           note="8000 s (2 h 13 min 20 s) in current releases, 6 h in older ones"),
    # Proxies
    _entry("haproxy", "haproxy", "HAProxy", "timeout client / server / tunnel", None, RANGE,
           (1, None), 7, "closes the connection", CLOSE, "HAProxy configuration manual",
           "https://docs.haproxy.org/dev/configuration.html#4-timeout%20client", CONFIRMED,
           note="no timeout unless configured; HAProxy warns at startup"),
    _entry("envoy", "envoy", "Envoy", "HTTP connection manager / TcpProxy idle_timeout", 3600,
           RANGE, (1, None), 7, "closes the connection", CLOSE,
           "Envoy timeouts documentation",
           "https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts", CONFIRMED),
    _entry("nginx", "nginx", "NGINX", "proxy_read_timeout; keepalive_timeout 75 s", 60, RANGE,
           (1, None), 7, "closes the connection", CLOSE, "NGINX module documentation",
           "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_read_timeout",
           PARTIAL,
           note="keepalive_timeout 75 s, proxy_read_timeout 60 s, stream proxy_timeout 600 s "
           "(the smallest is taken; override with the one your traffic meets)"),
    # NAT in general
    _entry("rfc5382_nat", "ietf", "NAT conforming to RFC 5382 REQ-5", "established idle", 7440,
           MINIMUM, (7440, None), 4, "not specified", EFFECT_UNKNOWN,
           "RFC 5382 section 5 (REQ-5: at least 2 h 4 min)",
           "https://www.rfc-editor.org/rfc/rfc5382#section-5", CONFIRMED,
           note="a lower bound: a conforming NAT MUST NOT time out sooner, it may wait longer"),
    _entry("home_nat", "generic", "Home or carrier-grade NAT (observed)", "TCP idle", 600,
           UNKNOWN, None, 4, "usually silent", DROP,
           "field reports; a measurement of home NATs (Guha and Francis, IMC 2005)",
           "https://www.microsoft.com/en-us/research/publication/"
           "characterization-and-measurement-of-tcp-traversal-through-nats-and-firewalls/",
           PARTIAL,
           note="600 to 7200 s seen and often lower: the lowest reported figure is taken; "
           "measure yours and override"),
    _entry("mobile_nat", "generic", "Mobile carrier NAT", "TCP idle", None, UNKNOWN, None, 4,
           "not known", EFFECT_UNKNOWN,
           "no reliable published figure; RFC 6888 asks carrier-grade NATs to follow RFC 5382",
           "https://www.rfc-editor.org/rfc/rfc6888", UNCONFIRMED,
           note="no reliable figure: carriers do not publish theirs"),
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

"""The built-in middlebox catalog: every entry consistent and pinned by this table."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._catalog import (
    CATALOG,
    CONFIGURABLE_STATES,
    CONFIRMATION_STATES,
    LAYERS,
    close_matches,
    get_entry,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

REQUIRED_IDS = [
    "aws_alb",
    "aws_nlb",
    "aws_gwlb",
    "aws_nat_gateway",
    "aws_global_accelerator",
    "azure_lb_standard",
    "azure_nat_gateway",
    "azure_firewall",
    "azure_app_gateway",
    "gcp_cloud_nat",
    "gcp_vpc_firewall",
    "linux_conntrack",
    "kube_proxy",
    "haproxy",
    "envoy",
    "nginx",
    "rfc5382_nat",
    # the other rows of the table
    "aws_sg_conntrack",
    "aws_network_firewall",
    "azure_lb_basic",
    "gcp_internal_nlb",
    "gcp_external_nlb",
    "gcp_external_alb",
    "oci_nlb",
    "oci_lb",
    "cloudflare_proxy",
    "cloudflare_gateway",
    "home_nat",
    "mobile_nat",
]

# (id, default idle timeout, layer, configurable, range, confirmed) of every entry.
PINNED_ROWS = [
    ("aws_alb", 60, 7, "range", (1, 4000), "confirmed"),
    ("aws_nlb", 350, 4, "range", (60, 6000), "confirmed"),
    ("aws_gwlb", 350, 4, "range", (60, 6000), "confirmed"),
    ("aws_nat_gateway", 350, 4, "fixed", None, "confirmed"),
    ("aws_global_accelerator", 340, 7, "fixed", None, "confirmed"),
    ("aws_sg_conntrack", 350, 4, "range", (60, 432000), "confirmed"),
    ("aws_network_firewall", 350, 4, "range", (60, 6000), "confirmed"),
    ("azure_lb_standard", 240, 4, "range", (240, 6000), "confirmed"),
    ("azure_lb_basic", 240, 4, "range", (240, 1800), "unconfirmed"),
    ("azure_nat_gateway", 240, 4, "range", (240, 7200), "confirmed"),
    ("azure_app_gateway", 75, 7, "fixed", None, "confirmed"),
    ("azure_firewall", 240, 4, "fixed", None, "confirmed"),
    ("gcp_cloud_nat", 1200, 4, "range", (1, None), "partial"),
    ("gcp_vpc_firewall", 600, 4, "unknown", None, "confirmed"),
    ("gcp_internal_nlb", 600, 4, "range", (1, 57600), "partial"),
    ("gcp_external_nlb", 60, 4, "unknown", None, "partial"),
    ("gcp_external_alb", 600, 7, "range", (5, 1200), "confirmed"),
    ("oci_nlb", 360, 4, "range", (1, None), "confirmed"),
    ("oci_lb", 65, 7, "fixed", None, "partial"),
    ("cloudflare_proxy", 900, 7, "fixed", None, "confirmed"),
    ("cloudflare_gateway", 270, 7, "unknown", None, "confirmed"),
    ("linux_conntrack", 432000, 4, "range", (1, None), "confirmed"),
    ("kube_proxy", 86400, 4, "range", (1, None), "confirmed"),
    ("haproxy", None, 7, "range", (1, None), "confirmed"),
    ("envoy", 3600, 7, "range", (1, None), "confirmed"),
    ("nginx", 60, 7, "range", (1, None), "partial"),
    ("rfc5382_nat", 7440, 4, "fixed", None, "confirmed"),
    ("home_nat", 600, 4, "unknown", None, "partial"),
    ("mobile_nat", None, 4, "unknown", None, "unconfirmed"),
]


def test_catalog_holds_exactly_the_pinned_rows():
    assert sorted(CATALOG) == sorted(REQUIRED_IDS)
    assert sorted(row[0] for row in PINNED_ROWS) == sorted(REQUIRED_IDS)


@pytest.mark.parametrize(
    ("entry_id", "timeout", "layer", "configurable", "timeout_range", "confirmed"),
    PINNED_ROWS,
)
def test_entry_matches_pinned_row(entry_id, timeout, layer, configurable, timeout_range, confirmed):
    entry = get_entry(entry_id)
    assert (entry.idle_timeout, entry.layer, entry.configurable) == (timeout, layer, configurable)
    assert (entry.timeout_range, entry.confirmed) == (timeout_range, confirmed)


@pytest.mark.parametrize("entry_id", sorted(CATALOG))
def test_entry_is_consistent(entry_id):
    entry = CATALOG[entry_id]
    assert entry.id == entry_id
    assert entry.layer in LAYERS
    assert entry.configurable in CONFIGURABLE_STATES
    assert entry.confirmed in CONFIRMATION_STATES
    for text in (entry.provider, entry.product, entry.timer, entry.at_expiry, entry.source):
        assert isinstance(text, str) and text.strip()
    if entry.configurable == "range":
        low, high = entry.timeout_range
        assert low >= 1
        assert high is None or high > low
        if entry.idle_timeout is not None:
            assert low <= entry.idle_timeout and (high is None or entry.idle_timeout <= high)
    else:
        assert entry.timeout_range is None
    if entry.idle_timeout is None:
        # A row without a figure must say why, so the warning it produces can say it too.
        assert entry.note


@pytest.mark.parametrize("entry_id", sorted(CATALOG))
def test_entry_is_immutable_and_serialisable(entry_id):
    entry = CATALOG[entry_id]
    with pytest.raises(AttributeError):
        entry.idle_timeout = 1
    data = entry.to_dict()
    assert data["id"] == entry_id
    assert data["timeout_range"] is None or isinstance(data["timeout_range"], list)


@pytest.mark.parametrize(
    ("typed", "expected_first"),
    [
        ("aws_nat", "aws_nat_gateway"),
        ("azure_lb", "azure_lb_basic"),
        ("aws_nbl", "aws_nlb"),
        ("kube-proxy", "kube_proxy"),
        ("conntrack", "aws_sg_conntrack"),
    ],
)
def test_unknown_id_lists_close_matches(typed, expected_first):
    with pytest.raises(KeepaliveError) as caught:
        get_entry(typed)
    assert close_matches(typed)[0] == expected_first
    assert "unknown middlebox id %r" % typed in str(caught.value)
    assert expected_first in str(caught.value)
    assert caught.value.details["close_matches"][0] == expected_first


def test_unknown_id_without_matches_lists_all_ids():
    with pytest.raises(KeepaliveError, match="known ids: aws_alb, "):
        get_entry("zzzz")


@pytest.mark.parametrize("bad", [None, 5, ["aws_nlb"]])
def test_non_string_id_is_refused(bad):
    with pytest.raises(KeepaliveError, match="unknown middlebox id"):
        get_entry(bad)

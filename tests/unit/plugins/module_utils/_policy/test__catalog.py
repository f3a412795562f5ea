"""The built-in middlebox catalog: every entry consistent and pinned by this table."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._catalog import (
    CATALOG,
    CONFIGURABLE_STATES,
    CONFIRMATION_STATES,
    EFFECT_MEANINGS,
    EFFECTS,
    LAYERS,
    REVIEWED,
    SURVIVABLE_EFFECTS,
    close_matches,
    get_entry,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError

REVIEW = "2026-12-02"
# Every entry: (id, default, range, layer, configurable, effect, confirmed, verified, retired).
# A change to any figure of the catalog must change this table too.
PINNED_ROWS = [
    ("aws_alb", 60, (1, 4000), 7, "range", "close", "confirmed", REVIEW, None),
    ("aws_nlb", 350, (60, 6000), 4, "range", "drop", "confirmed", REVIEW, None),
    ("aws_gwlb", 350, (60, 6000), 4, "range", "drop", "confirmed", REVIEW, None),
    ("aws_clb", 60, (1, 4000), 7, "range", "close", "confirmed", REVIEW, None),
    ("aws_nat_gateway", 350, None, 4, "fixed", "drop", "confirmed", REVIEW, None),
    ("aws_global_accelerator", 340, None, 7, "fixed", "close", "partial", REVIEW, None),
    ("aws_sg_conntrack", 350, (60, 432000), 4, "range", "drop", "confirmed", REVIEW, None),
    ("aws_network_firewall", 350, (60, 6000), 4, "range", "drop", "confirmed", REVIEW, None),
    ("azure_lb_standard", 240, (240, 6000), 4, "range", "drop", "confirmed", REVIEW, None),
    ("azure_lb_basic", 240, (240, 1800), 4, "range", "drop", "unconfirmed", REVIEW, "2025-09-30"),
    ("azure_nat_gateway", 240, (240, 7200), 4, "range", "drop", "confirmed", REVIEW, None),
    ("azure_app_gateway", 75, None, 7, "fixed", "unknown", "confirmed", REVIEW, None),
    ("azure_firewall", 240, (240, 1800), 4, "range", "reset", "confirmed", REVIEW, None),
    ("gcp_cloud_nat", 1200, (1, None), 4, "range", "drop", "partial", REVIEW, None),
    ("gcp_vpc_firewall", 600, None, 4, "unknown", "drop", "confirmed", REVIEW, None),
    ("gcp_internal_nlb", 600, (1, 57600), 4, "range", "rehash", "partial", REVIEW, None),
    ("gcp_external_nlb", 60, None, 4, "unknown", "rehash", "partial", REVIEW, None),
    ("gcp_external_alb", 600, None, 7, "fixed", "close", "confirmed", REVIEW, None),
    ("gcp_external_alb_client", 610, (5, 1200), 7, "range", "close", "confirmed", REVIEW, None),
    ("oci_nlb", 360, (1, None), 4, "range", "unknown", "confirmed", REVIEW, None),
    ("oci_lb", 65, (1, None), 7, "range", "close", "confirmed", REVIEW, None),
    ("cloudflare_proxy", 900, None, 7, "fixed", "close", "confirmed", REVIEW, None),
    ("cloudflare_proxy_client", 400, None, 7, "fixed", "close", "confirmed", REVIEW, None),
    ("cloudflare_gateway", 270, None, 7, "unknown", "drop", "confirmed", REVIEW, None),
    ("linux_conntrack", 432000, (1, None), 4, "range", "drop", "confirmed", REVIEW, None),
    ("kube_proxy", 86400, (1, None), 4, "range", "drop", "confirmed", REVIEW, None),
    ("kube_proxy_ipvs", 900, (1, None), 4, "range", "drop", "confirmed", REVIEW, None),
    ("cilium_conntrack", 8000, (1, None), 4, "range", "drop", "confirmed", REVIEW, None),
    ("haproxy", None, (1, None), 7, "range", "close", "confirmed", REVIEW, None),
    ("envoy", 3600, (1, None), 7, "range", "close", "confirmed", REVIEW, None),
    ("nginx", 60, (1, None), 7, "range", "close", "partial", REVIEW, None),
    ("rfc5382_nat", 7440, (7440, None), 4, "minimum", "unknown", "confirmed", REVIEW, None),
    ("home_nat", 600, None, 4, "unknown", "drop", "partial", REVIEW, None),
    ("mobile_nat", None, None, 4, "unknown", "unknown", "unconfirmed", REVIEW, None),
]
# Where each entry's source lives (scheme and host): a moved page changes this table.
SOURCE_HOSTS = {
    "aws": ("docs.aws.amazon.com",),
    "azure": ("learn.microsoft.com",),
    "gcp": ("cloud.google.com",),
    "oci": ("docs.oracle.com",),
    "cloudflare": ("developers.cloudflare.com",),
    "linux": ("docs.kernel.org",),
    "kubernetes": ("kubernetes.io", "docs.cilium.io"),
    "haproxy": ("docs.haproxy.org",),
    "envoy": ("www.envoyproxy.io",),
    "nginx": ("nginx.org",),
    "ietf": ("www.rfc-editor.org",),
    "generic": ("www.microsoft.com", "www.rfc-editor.org"),
}


def test_catalog_holds_exactly_the_pinned_rows():
    assert sorted(CATALOG) == sorted(row[0] for row in PINNED_ROWS)
    assert len(PINNED_ROWS) == len({row[0] for row in PINNED_ROWS})


@pytest.mark.parametrize(
    (
        "entry_id",
        "timeout",
        "timeout_range",
        "layer",
        "configurable",
        "effect",
        "confirmed",
        "verified",
        "retired",
    ),
    PINNED_ROWS,
)
def test_entry_matches_pinned_row(
    entry_id, timeout, timeout_range, layer, configurable, effect, confirmed, verified, retired
):
    entry = get_entry(entry_id)
    assert (entry.idle_timeout, entry.timeout_range) == (timeout, timeout_range)
    assert (entry.layer, entry.configurable, entry.effect) == (layer, configurable, effect)
    assert (entry.confirmed, entry.verified, entry.retired) == (confirmed, verified, retired)


@pytest.mark.parametrize("entry_id", sorted(CATALOG))
def test_entry_source_is_an_https_vendor_page(entry_id):
    entry = CATALOG[entry_id]
    url = urlsplit(entry.source_url)
    assert url.scheme == "https" and url.path, entry.source_url
    assert url.netloc in SOURCE_HOSTS[entry.provider], entry.source_url
    assert " " not in entry.source_url


@pytest.mark.parametrize("entry_id", sorted(CATALOG))
def test_entry_dates_are_iso_and_not_in_the_future_of_the_review(entry_id):
    entry = CATALOG[entry_id]
    verified = datetime.date.fromisoformat(entry.verified)
    assert verified <= datetime.date.fromisoformat(REVIEWED)
    if entry.retired is not None:
        assert datetime.date.fromisoformat(entry.retired) <= verified
        # A retired product's warning tells the user where to go.
        assert entry.successor in CATALOG and not CATALOG[entry.successor].retired
    else:
        assert entry.successor is None


@pytest.mark.parametrize("entry_id", sorted(CATALOG))
def test_entry_is_consistent(entry_id):
    entry = CATALOG[entry_id]
    assert entry.id == entry_id
    assert entry.layer in LAYERS
    assert entry.configurable in CONFIGURABLE_STATES
    assert entry.confirmed in CONFIRMATION_STATES
    assert entry.effect in EFFECTS and entry.effect in EFFECT_MEANINGS
    for text in (entry.provider, entry.product, entry.timer, entry.at_expiry, entry.source):
        assert isinstance(text, str) and text.strip()
    if entry.configurable == "range":
        low, high = entry.timeout_range
        assert low >= 1
        assert high is None or high > low
        if entry.idle_timeout is not None:
            assert low <= entry.idle_timeout and (high is None or entry.idle_timeout <= high)
    elif entry.configurable == "minimum":
        # A floor: the default is the floor itself, with no upper bound.
        assert entry.timeout_range == (entry.idle_timeout, None)
    else:
        assert entry.timeout_range is None
    if entry.idle_timeout is None:
        # A row without a figure must say why, so the warning it produces can say it too.
        assert entry.note


def test_only_a_rehash_is_survivable():
    assert SURVIVABLE_EFFECTS == ("rehash",)
    rehashed = sorted(i for i, e in CATALOG.items() if e.effect in SURVIVABLE_EFFECTS)
    assert rehashed == ["gcp_external_nlb", "gcp_internal_nlb"]


@pytest.mark.parametrize("entry_id", sorted(CATALOG))
def test_entry_is_immutable_and_serialisable(entry_id):
    entry = CATALOG[entry_id]
    with pytest.raises(AttributeError):
        entry.idle_timeout = 1
    data = entry.to_dict()
    assert data["id"] == entry_id
    assert data["timeout_range"] is None or isinstance(data["timeout_range"], list)
    assert {"source_url", "verified", "effect", "retired", "successor"} <= set(data)


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

"""Path resolution: catalog ids, overrides within the product's range, custom boxes."""

from __future__ import annotations

import re

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._catalog import CATALOG
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import (
    resolve_path,
    retirement_note,
    smallest_timeout,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._verdicts import (
    idle_verdicts,
    verdicts,
)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            "aws_nat_gateway",
            {
                "id": "aws_nat_gateway",
                "idle_timeout": 350,
                "layer": 4,
                "origin": "catalog",
                "source": "AWS VPC NAT gateway troubleshooting documentation",
            },
        ),
        (
            {"id": "aws_nlb", "idle_timeout": 600},
            {"id": "aws_nlb", "idle_timeout": 600, "layer": 4, "origin": "user override"},
        ),
        ({"id": "aws_nlb"}, {"idle_timeout": 350, "origin": "catalog"}),
        (
            {"id": "aws_nat_gateway", "idle_timeout": 350},
            {"idle_timeout": 350, "origin": "user override"},
        ),
        ({"id": "haproxy", "idle_timeout": 50}, {"idle_timeout": 50, "layer": 7}),
        ({"id": "gcp_vpc_firewall", "idle_timeout": 900}, {"idle_timeout": 900}),
        ({"id": "mobile_nat", "idle_timeout": 120}, {"idle_timeout": 120, "layer": 4}),
        (
            {"name": "corp-fw", "idle_timeout": 900, "layer": 4},
            {
                "id": "corp-fw",
                "idle_timeout": 900,
                "layer": 4,
                "origin": "custom",
                "confirmed": None,
            },
        ),
        (
            {"name": "api-proxy", "idle_timeout": 30, "layer": 7, "description": "Team X proxy"},
            {"product": "Team X proxy", "layer": 7},
        ),
    ],
)
def test_item_resolves_with_its_origin(item, expected):
    (box,) = resolve_path([item])
    data = box.to_dict()
    for key, value in expected.items():
        assert data[key] == value


def test_override_source_keeps_the_catalog_default_and_source():
    (box,) = resolve_path([{"id": "aws_nlb", "idle_timeout": 600}])
    assert box.source.startswith("user override (catalog default 350 s, AWS docs")


def test_empty_and_missing_paths_resolve_to_nothing():
    assert resolve_path([]) == [] and resolve_path(None) == []


def test_resolved_boxes_pass_through():
    boxes = resolve_path(["aws_nlb", "haproxy"])
    assert resolve_path(boxes) == boxes


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            ["aws_nlb", "aws_nat"],
            r"path item 2: unknown middlebox id 'aws_nat'; did you mean: aws_nat_gateway",
        ),
        (
            [{"id": "aws_nlb", "idle_timeout": 30}],
            r"path item 1 \(aws_nlb\) idle_timeout=30 is out of range: allowed 60\.\.6000 s",
        ),
        (
            [{"id": "aws_nlb", "idle_timeout": 6001}],
            r"idle_timeout=6001 is out of range: allowed 60\.\.6000 s",
        ),
        (
            [{"id": "azure_lb_standard", "idle_timeout": 120}],
            r"\(azure_lb_standard\) idle_timeout=120 is out of range: allowed 240\.\.6000 s",
        ),
        (
            [{"id": "aws_nat_gateway", "idle_timeout": 600}],
            r"idle_timeout=600 is out of range: AWS NAT Gateway's idle timeout is fixed at 350 s "
            r".*\{name: \.\.\., idle_timeout: 600, layer: 4\}",
        ),
        (
            [{"id": "aws_nlb", "idle_timeout": True}],
            r"idle_timeout must be an integer in 60\.\.6000 s, got True \(a boolean\)",
        ),
        ([{"id": "aws_nlb", "idle_timeout": "600"}], r"idle_timeout must be an integer"),
        ([{"id": "aws_nlb", "layer": 7}], r"path item 1 \(aws_nlb\) has unknown keys \['layer'\]"),
        (
            [{"name": "aws_nlb", "idle_timeout": 5, "layer": 4}],
            r"custom box name 'aws_nlb' is a catalog id",
        ),
        ([{"name": "fw", "idle_timeout": 900}], r"path item 1 \(fw\): a custom box needs layer"),
        ([{"name": "fw", "layer": 4}], r"a custom box needs idle_timeout"),
        (
            [{"name": "fw", "idle_timeout": 0, "layer": 4}],
            r"path item 1 \(fw\) idle_timeout=0 is out of range",
        ),
        ([{"name": "fw", "idle_timeout": 90, "layer": 3}], r"layer must be 4 .* or 7 .*got 3"),
        ([{"name": "fw", "idle_timeout": 90, "layer": True}], r"layer must be 4"),
        ([{"name": "", "idle_timeout": 90, "layer": 4}], r"name must be a non-empty string"),
        ([{"timeout": 5}], r"path item 1 must be a catalog id, \{id: ID"),
        ([5], r"path item 1 must be a catalog id"),
        ("aws_nlb", r"path must be a list of middleboxes, got 'aws_nlb'"),
        ({"id": "aws_nlb"}, r"path must be a list"),
    ],
)
def test_bad_items_name_item_value_and_range(items, message):
    with pytest.raises(KeepaliveError, match=message):
        resolve_path(items)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["aws_nlb", "aws_nat_gateway", "azure_firewall"], "azure_firewall"),
        (["mobile_nat", "home_nat"], "home_nat"),
        (["mobile_nat"], None),
        ([], None),
    ],
)
def test_smallest_timeout_ignores_unknown_figures(items, expected):
    box = smallest_timeout(resolve_path(items))
    assert (box.id if box else None) == expected


@pytest.mark.parametrize("value", [7440, 7441, 86400])
def test_rfc5382_is_a_floor_longer_overrides_are_accepted(value):
    (box,) = resolve_path([{"id": "rfc5382_nat", "idle_timeout": value}])
    assert (box.idle_timeout, box.origin) == (value, "user override")


def test_rfc5382_refuses_a_shorter_override_naming_the_minimum():
    with pytest.raises(KeepaliveError) as caught:
        resolve_path([{"id": "rfc5382_nat", "idle_timeout": 3600}])
    assert str(caught.value).startswith(
        "path item 1 (rfc5382_nat) idle_timeout=3600 is below the minimum: NAT conforming to "
        "RFC 5382 REQ-5 must keep an idle connection at least 7440 s"
    )
    assert "{name: ..., idle_timeout: 3600, layer: 4}" in str(caught.value)
    assert caught.value.details["minimum"] == 7440


@pytest.mark.parametrize(
    ("item", "message"),
    [
        # The backend keep-alive is fixed; the range belongs to the client side.
        ({"id": "gcp_external_alb", "idle_timeout": 300}, r"fixed at 600 s"),
        ({"id": "gcp_external_alb_client", "idle_timeout": 1201}, r"allowed 5\.\.1200 s"),
        ({"id": "azure_firewall", "idle_timeout": 1801}, r"allowed 240\.\.1800 s"),
        ({"id": "cloudflare_proxy_client", "idle_timeout": 900}, r"fixed at 400 s"),
    ],
)
def test_corrected_ranges_refuse_what_the_vendor_does_not_offer(item, message):
    with pytest.raises(KeepaliveError, match=message):
        resolve_path([item])


@pytest.mark.parametrize(
    ("item", "timeout"),
    [
        ({"id": "gcp_external_alb_client", "idle_timeout": 300}, 300),
        ({"id": "azure_firewall", "idle_timeout": 1800}, 1800),
        ({"id": "oci_lb", "idle_timeout": 120}, 120),
        ({"id": "kube_proxy_ipvs", "idle_timeout": 3600}, 3600),
    ],
)
def test_corrected_ranges_accept_what_the_vendor_offers(item, timeout):
    (box,) = resolve_path([item])
    assert box.idle_timeout == timeout


def test_a_catalog_box_carries_its_source_url_date_effect_and_retirement():
    basic, firewall = resolve_path(["azure_lb_basic", "azure_firewall"])
    assert basic.retired == "2025-09-30" and firewall.retired is None
    assert basic.source_url.startswith("https://learn.microsoft.com/")
    assert (firewall.effect, firewall.verified) == ("reset", "2026-12-02")
    assert "was retired on 2025-09-30" in retirement_note(basic)
    assert "move to azure_lb_standard" in retirement_note(basic)
    assert retirement_note(firewall) == ""


def test_an_override_keeps_the_source_and_retirement_but_not_the_date():
    (box,) = resolve_path([{"id": "azure_lb_basic", "idle_timeout": 600}])
    assert (box.retired, box.verified, box.confirmed) == ("2025-09-30", None, None)
    assert box.source_url == CATALOG["azure_lb_basic"].source_url


def test_a_custom_box_has_no_source_url_and_an_unknown_effect():
    (box,) = resolve_path([{"name": "fw", "idle_timeout": 90, "layer": 4}])
    data = box.to_dict()
    assert (data["source_url"], data["verified"], data["retired"]) == (None, None, None)
    assert data["effect"] == "unknown"


@pytest.mark.parametrize(
    ("time", "path", "status", "message"),
    [
        # A re-hash usually lands on the same backend: a risk, not a certain drop.
        (180, ["gcp_external_nlb"], "warn", r"survive unless the backends change"),
        (180, ["gcp_internal_nlb"], "pass", r"leaves 420 s"),
        (30, ["gcp_external_nlb"], "pass", r"leaves 30 s"),
        # The same expiry on a box that drops or resets the flow fails.
        (300, ["azure_firewall"], "fail", r"at expiry: sends a TCP RST"),
        (900, ["kube_proxy_ipvs"], "fail", r"after 900 s"),
        (870, ["kube_proxy_ipvs"], "pass", r"leaves 30 s"),
        (7200, ["kube_proxy"], "pass", r"leaves 79200 s"),
        (7200, ["cilium_conntrack"], "pass", r"leaves 800 s"),
        # A retired product warns even when the probe leaves in time, and fails when not.
        (180, ["azure_lb_basic"], "warn", r"retired on 2025-09-30"),
        (300, ["azure_lb_basic"], "fail", r"retired on 2025-09-30"),
    ],
)
def test_idle_verdict_follows_the_catalog_effect_and_retirement(time, path, status, message):
    (verdict,) = idle_verdicts(time, path)
    assert verdict["status"] == status
    assert re.search(message, verdict["message"])


@pytest.mark.parametrize("entry_id", ["aws_clb", "cloudflare_proxy_client", "oci_lb"])
def test_boxes_keepalive_cannot_hold_ask_for_a_heartbeat(entry_id):
    result = verdicts({"time": 30, "intvl": 10, "probes": 3}, [entry_id])
    (heartbeat,) = [v for v in result if v["check"] == "application_heartbeat"]
    assert (
        heartbeat["status"] == "warn" and heartbeat["limit"] == CATALOG[entry_id].idle_timeout // 3
    )
    assert not [v for v in result if v["check"] == "middlebox_idle"]

"""Path resolution: catalog ids, overrides within the product's range, custom boxes."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import (
    resolve_path,
    smallest_timeout,
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

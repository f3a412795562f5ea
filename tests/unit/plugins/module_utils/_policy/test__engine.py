"""Derivation through the stable facade: typical paths, explicit values, infeasible needs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _engine as policy
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError


@pytest.mark.parametrize(
    ("profile", "path", "values", "time_reason"),
    [
        ("cloud", ["aws_nlb", "aws_nat_gateway"], (180, 20, 3), r"set in profile 'cloud'"),
        (
            "database",
            ["aws_nlb", "aws_nat_gateway"],
            (90, 10, 3),
            r"detect_within 120 s minus the probe window 30 s",
        ),
        ("database", ["azure_lb_standard"], (90, 10, 3), r"detect_within 120 s"),
        (
            {"tolerate_outage": 30},
            ["azure_lb_standard"],
            (210, 10, 3),
            r"smallest layer-4 idle timeout on the path 240 s "
            r"\(azure_lb_standard, catalog: Azure docs",
        ),
        ({}, ["aws_nlb", "aws_nat_gateway"], (320, 10, 3), r"350 s \(aws_nlb, catalog"),
        ({}, ["gcp_cloud_nat"], (1170, 10, 3), r"1200 s \(gcp_cloud_nat"),
        ({}, ["gcp_cloud_nat", "gcp_vpc_firewall"], (570, 10, 3), r"600 s \(gcp_vpc_firewall"),
        ({}, [{"id": "aws_nlb", "idle_timeout": 6000}], (5970, 10, 3), r"user override"),
        (
            {},
            [{"name": "corp-fw", "idle_timeout": 900, "layer": 4}],
            (870, 10, 3),
            r"900 s \(corp-fw, custom",
        ),
        ({}, [], (7200, 10, 3), r"the Linux default 7200 s"),
        ({}, ["linux_conntrack", "kube_proxy"], (7200, 10, 3), r"the Linux default 7200 s"),
        # proxies do not bound time: kernel keepalive cannot keep them open anyway
        ({}, ["aws_alb", "envoy"], (7200, 10, 3), r"the Linux default"),
        ({}, ["aws_alb", "aws_nat_gateway"], (320, 10, 3), r"aws_nat_gateway"),
        ({}, ["mobile_nat"], (7200, 10, 3), r"the Linux default.*not bounded by mobile_nat"),
        (
            {},
            ["mobile_nat", "home_nat"],
            (570, 10, 3),
            r"600 s \(home_nat.*not bounded by mobile_nat",
        ),
        (
            "latency_sensitive",
            ["gcp_cloud_nat"],
            (18, 4, 3),
            r"detect_within 30 s minus the probe window 12 s",
        ),
        (
            {"detect_within": 60, "tolerate_outage": 59},
            [],
            (1, 59, 1),
            r"detect_within 60 s minus the probe window 59 s",
        ),
        # the first probe always leaves before the timeout, even with margin 0
        ({"margin": 0}, ["aws_nat_gateway"], (349, 10, 3), r"minus margin 1 s"),
        ({"tolerate_outage": 0}, [], (7200, 1, 3), r"Linux default"),
        ({"intvl": 7}, [], (7200, 7, 5), r"Linux default"),
        ({"probes": 4}, [], (7200, 8, 4), r"Linux default"),
        ({"tolerate_outage": 100000}, [], (7200, 25000, 4), r"Linux default"),
    ],
)
def test_derive_typical_paths(profile, path, values, time_reason):
    result = policy.derive(profile, path)
    assert tuple(result["values"][n] for n in ("time", "intvl", "probes")) == values
    assert re.search(time_reason, result["provenance"]["time"]["reason"])
    if time_reason.startswith("set in"):
        assert result["provenance"]["time"]["origin"] == "explicit"
    else:
        assert result["provenance"]["time"]["origin"] == "derived"


# A grid of requirement sets and paths: whatever derive returns must meet every constraint.
GRID_PATHS = [
    [],
    ["azure_lb_standard"],
    ["aws_nlb", "aws_nat_gateway"],
    ["gcp_external_nlb"],
    ["aws_alb"],
    [{"name": "tight", "idle_timeout": 40, "layer": 4}],
]
GRID = list(itertools.product((None, 45, 120, 600), (0, 10, 30, 44), (0, 5, 30), GRID_PATHS))


@pytest.mark.parametrize(("detect_within", "tolerate", "margin", "path"), GRID)
def test_derived_values_meet_every_constraint(detect_within, tolerate, margin, path):
    profile = {"detect_within": detect_within, "tolerate_outage": tolerate, "margin": margin}
    result = policy.derive(profile, path)
    values = result["values"]
    window = values["intvl"] * values["probes"]
    assert window >= tolerate
    if detect_within is not None:
        assert values["time"] + window <= detect_within
    limiting = result["limiting_box"]
    if limiting is not None:
        assert values["time"] <= limiting["idle_timeout"] - margin
    assert policy.validate_values(values) == values
    assert result["violations"] == []
    assert result["summary"]["status"] in ("pass", "warn")


@pytest.mark.parametrize(
    ("profile", "path", "message"),
    [
        (
            {"detect_within": 30},
            [],
            r"profile 'inline': no keepalive values satisfy all constraints: intvl x probes >= "
            r"tolerate_outage \(30 s\) and time \+ intvl x probes <= detect_within \(30 s\) "
            r"leave 0 s "
            r"for time, below the kernel minimum of 1 s: short by 1 s",
        ),
        ({"detect_within": 20, "tolerate_outage": 60}, [], r"leave -40 s for time.*short by 41 s"),
        (
            {"margin": 60},
            ["gcp_external_nlb"],
            r"time <= smallest layer-4 idle timeout - margin: "
            r"60 s \(gcp_external_nlb\) - 60 s = 0 s, "
            r"below the kernel minimum of 1 s: short by 1 s",
        ),
        (
            {},
            [{"name": "tiny", "idle_timeout": 20, "layer": 4}],
            r"20 s \(tiny\) - 30 s = -10 s.*short by 11 s",
        ),
        (
            {"detect_within": 25, "margin": 100},
            ["aws_nlb", {"id": "aws_gwlb", "idle_timeout": 60}],
            r"60 s \(aws_gwlb\) - 100 s = -40 s.*short by 41 s; intvl x probes .*short by 6 s",
        ),
        (
            "latency_sensitive",
            [{"name": "x", "idle_timeout": 30, "layer": 4}],
            r"profile 'latency_sensitive'.*short by 1 s",
        ),
    ],
)
def test_infeasible_requirements_name_the_conflict_and_gap(profile, path, message):
    with pytest.raises(KeepaliveError, match=message) as caught:
        policy.derive(profile, path)
    assert caught.value.details["conflicts"]


@pytest.mark.parametrize(
    ("profile", "path", "values", "failing"),
    [
        (
            "kernel_default",
            ["aws_nat_gateway"],
            (7200, 75, 9),
            [("middlebox_idle", "aws_nat_gateway")],
        ),
        (
            {"time": 600, "detect_within": 300},
            ["azure_lb_standard"],
            (600, 10, 3),
            [("middlebox_idle", "azure_lb_standard"), ("detection_time", "peer")],
        ),
        ({"intvl": 2, "probes": 3}, [], (7200, 2, 3), [("outage_tolerance", "network")]),
        ({"time": 280, "tolerate_outage": 30}, ["cloudflare_gateway"], (280, 10, 3), []),
        ({"time": 290, "detect_within": 300}, [], (290, 10, 3), [("detection_time", "peer")]),
    ],
)
def test_explicit_values_are_kept_and_violations_reported(profile, path, values, failing):
    result = policy.derive(profile, path)
    assert tuple(result["values"][n] for n in ("time", "intvl", "probes")) == values
    assert [(v["check"], v["subject"]) for v in result["violations"]] == failing
    assert result["summary"]["status"] == ("fail" if failing else "warn")


def test_explicit_time_too_large_for_the_budget_keeps_the_outage_tolerance():
    result = policy.derive({"time": 290, "detect_within": 300}, [])
    assert "explicit time leaves less than that" in result["provenance"]["intvl"]["reason"]


def test_derive_result_shape():
    result = policy.derive("database", ["aws_nlb", "aws_alb"], profiles={})
    assert result["profile"] == "database"
    assert result["sysctl_args"] == {
        "tcp_keepalive_time": 90,
        "tcp_keepalive_intvl": 10,
        "tcp_keepalive_probes": 3,
    }
    assert result["requirements"] == {"detect_within": 120, "tolerate_outage": 30, "margin": 30}
    assert result["defaults_used"] == ["margin"]
    assert result["detection_time"] == 120
    assert result["limiting_box"]["id"] == "aws_nlb"
    assert [box["id"] for box in result["path"]] == ["aws_nlb", "aws_alb"]
    assert {v["check"] for v in result["verdicts"]} >= {"application_heartbeat", "middlebox_idle"}
    for name in policy.VALUE_NAMES:
        assert result["provenance"][name]["value"] == result["values"][name]


@pytest.mark.parametrize("name", sorted(policy.BUILTIN_PROFILES))
def test_builtin_profiles_derive_without_violations_on_an_empty_path(name):
    assert policy.derive(name, [])["violations"] == []


@pytest.mark.parametrize(
    "entry_id",
    sorted(
        e.id
        for e in policy.CATALOG.values()
        if e.layer == 4 and e.confirmed == "confirmed" and e.idle_timeout is not None
    ),
)
def test_cloud_profile_beats_every_confirmed_layer4_default(entry_id):
    result = policy.derive("cloud", [entry_id])
    assert result["violations"] == []
    assert result["summary"]["status"] == "pass"


def test_catalog_entry_lookup_is_plain_data():
    assert policy.catalog_entry("aws_nat_gateway")["idle_timeout"] == 350
    with pytest.raises(KeepaliveError, match="did you mean: aws_nat_gateway"):
        policy.catalog_entry("aws_nat")


def test_facade_exports_the_documented_api():
    for name in (
        "validate_values",
        "resolve_profile",
        "profile_names",
        "catalog_entry",
        "catalog_ids",
        "resolve_path",
        "derive",
        "verdicts",
        "idle_verdicts",
        "recommended_heartbeat",
        "detection_time",
        "summarize",
        "KERNEL_LIMITS",
        "LINUX_DEFAULTS",
        "SYSCTL_NAMES",
        "DEFAULT_MARGIN",
        "DEFAULT_TOLERATE_OUTAGE",
        "BUILTIN_PROFILES",
        "CATALOG",
    ):
        assert hasattr(policy, name), name
        assert name in policy.__doc__, name


def _doc_rows(heading):
    """Rows of the first table after ``heading`` in docs/policy.md, as lists of cells."""
    text = (Path(__file__).resolve().parents[5] / "docs" / "policy.md").read_text()
    lines = text[text.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start + 2 :]:  # skip the header and the |---| line
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table


def _ticked(cell):
    return re.findall(r"`([^`]+)`", cell)


@pytest.mark.parametrize("row", _doc_rows("Worked examples"), ids=lambda row: " ".join(row[:2]))
def test_worked_examples_in_the_docs_are_what_derive_returns(row):
    profile = _ticked(row[0])[0]
    values = tuple(int(n) for n in row[2].split(" / "))
    result = policy.derive({} if profile == "{}" else profile, _ticked(row[1]))
    assert tuple(result["values"][n] for n in policy.VALUE_NAMES) == values


@pytest.mark.parametrize("row", _doc_rows("| Built-in |"), ids=lambda row: row[0])
def test_builtin_profile_table_in_the_docs_is_what_derive_returns(row):
    match = re.match(r"(\d+) / (\d+) / (\d+) \((?:detects in )?(\d+) s\)", row[2])
    result = policy.derive(_ticked(row[0])[0], [])
    assert tuple(result["values"][n] for n in policy.VALUE_NAMES) == tuple(
        int(n) for n in match.groups()[:3]
    )
    assert result["detection_time"] == int(match.group(4))


def test_cloud_without_its_explicit_time_fits_gcp_external_nlb():
    """The docs' advice for the one partly confirmed 60 s layer-4 box: its expiry re-hashes
    the flow (usually to the same backend), so cloud's 180 s warns; 30 s passes."""
    cloud = policy.derive("cloud", ["gcp_external_nlb"])
    assert not cloud["violations"] and cloud["summary"]["status"] == "warn"
    result = policy.derive("x", ["gcp_external_nlb"], {"x": {"base": "cloud", "time": None}})
    assert result["values"] == {"time": 30, "intvl": 20, "probes": 3}
    assert result["summary"]["status"] == "pass"

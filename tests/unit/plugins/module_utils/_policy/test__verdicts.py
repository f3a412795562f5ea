"""Verdicts: every check, each of its statuses, and the messages a person acts on."""

from __future__ import annotations

import re

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._verdicts import (
    idle_verdicts,
    recommended_heartbeat,
    summarize,
    verdicts,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import resolve_path

DEFAULTS = {"time": 7200, "intvl": 75, "probes": 9}
CLOUD = {"time": 180, "intvl": 20, "probes": 3}
KEYS = {"check", "subject", "status", "value", "limit", "message"}


def _find(result, check, subject):
    matches = [v for v in result if v["check"] == check and v["subject"] == subject]
    assert len(matches) == 1, result
    return matches[0]


@pytest.mark.parametrize(
    ("values", "path", "profile", "check", "subject", "status", "value", "limit", "message"),
    [
        # middlebox_idle: first probe before each layer-4 box's timeout
        (
            DEFAULTS,
            ["aws_nat_gateway"],
            None,
            "middlebox_idle",
            "aws_nat_gateway",
            "fail",
            7200,
            320,
            r"AWS NAT Gateway \(aws_nat_gateway\) drops an idle connection after 350 s "
            r".*the first probe leaves at 7200 s: idle connections through it die silently; "
            r"set time <= 320 s",
        ),
        (
            {**CLOUD, "time": 350},
            ["aws_nlb"],
            None,
            "middlebox_idle",
            "aws_nlb",
            "fail",
            350,
            320,
            r"after 350 s",
        ),
        (
            {**CLOUD, "time": 330},
            ["aws_nlb"],
            None,
            "middlebox_idle",
            "aws_nlb",
            "warn",
            330,
            320,
            r"leaves only 20 s before .* less than the margin of 30 s",
        ),
        (
            CLOUD,
            ["aws_nlb"],
            None,
            "middlebox_idle",
            "aws_nlb",
            "pass",
            180,
            320,
            r"leaves 170 s before .*\(catalog: AWS docs",
        ),
        (
            CLOUD,
            [{"id": "aws_nlb", "idle_timeout": 120}],
            None,
            "middlebox_idle",
            "aws_nlb",
            "fail",
            180,
            90,
            r"after 120 s",
        ),
        (
            CLOUD,
            ["aws_nlb"],
            {"margin": 200},
            "middlebox_idle",
            "aws_nlb",
            "warn",
            180,
            150,
            r"margin of 200 s; set time <= 150 s",
        ),
        (
            CLOUD,
            ["mobile_nat"],
            None,
            "middlebox_idle",
            "mobile_nat",
            "warn",
            180,
            None,
            r"has no known idle timeout .*give it as \{id: mobile_nat, idle_timeout: S\}",
        ),
        (
            CLOUD,
            ["azure_lb_basic"],
            None,
            "middlebox_idle",
            "azure_lb_basic",
            "warn",
            180,
            210,
            r"the catalog figure is unconfirmed: verify it or override it; Azure Load "
            r"Balancer \(Basic\) \(azure_lb_basic\) was retired on 2025-09-30",
        ),
        (
            CLOUD,
            [{"name": "corp-fw", "idle_timeout": 150, "layer": 4}],
            None,
            "middlebox_idle",
            "corp-fw",
            "fail",
            180,
            120,
            r"corp-fw \(corp-fw\) drops an idle connection after 150 s",
        ),
        # application_heartbeat: every proxy warns, with a recommended interval
        (
            CLOUD,
            ["aws_alb"],
            None,
            "application_heartbeat",
            "aws_alb",
            "warn",
            60,
            20,
            r"is a proxy .*only data does: send an application heartbeat every 20 s or less "
            r"\(a third "
            r"of the smallest proxy idle timeout on the path, 60 s \(aws_alb\)\)",
        ),
        (
            CLOUD,
            ["envoy", "aws_alb"],
            None,
            "application_heartbeat",
            "envoy",
            "warn",
            3600,
            20,
            r"every 20 s",
        ),
        (
            CLOUD,
            ["envoy"],
            {"detect_within": 300},
            "application_heartbeat",
            "envoy",
            "warn",
            3600,
            100,
            r"a third of the detection budget detect_within 300 s",
        ),
        (
            CLOUD,
            ["haproxy"],
            None,
            "application_heartbeat",
            "haproxy",
            "warn",
            None,
            None,
            r"has no known idle timeout .*set its timeouts, give them as \{id: haproxy",
        ),
        # detection_time
        (
            DEFAULTS,
            [],
            None,
            "detection_time",
            "peer",
            "pass",
            7875,
            None,
            r"after up to 7875 s \(7200 \+ 9 x 75\); no detect_within requirement",
        ),
        (
            CLOUD,
            [],
            {"detect_within": 240},
            "detection_time",
            "peer",
            "pass",
            240,
            240,
            r"within detect_within 240 s",
        ),
        (
            DEFAULTS,
            [],
            {"detect_within": 120},
            "detection_time",
            "peer",
            "fail",
            7875,
            120,
            r"noticed only after up to 7875 s .*detect_within is 120 s: over by 7755 s",
        ),
        # outage_tolerance: too small a probe window = false positives on short blips
        (
            {"time": 60, "intvl": 10, "probes": 3},
            [],
            None,
            "outage_tolerance",
            "network",
            "pass",
            30,
            30,
            r"survive a network outage of up to 30 s \(3 x 10\)",
        ),
        (
            {"time": 60, "intvl": 5, "probes": 3},
            [],
            None,
            "outage_tolerance",
            "network",
            "fail",
            15,
            30,
            r"probes give up after 15 s .*blip longer than 15 s kills healthy idle "
            r"connections \(false positives\); short by 15 s",
        ),
        # kernel_limits on values read from a host
        (
            {"time": 0, "intvl": 75, "probes": 9},
            [],
            None,
            "kernel_limits",
            "time",
            "fail",
            0,
            [1, 32767],
            r"time=0 is outside the kernel limits 1\.\.32767",
        ),
        (
            {"time": 60, "intvl": 75, "probes": 200},
            [],
            None,
            "kernel_limits",
            "probes",
            "fail",
            200,
            [1, 127],
            r"probes=200 is outside",
        ),
        (DEFAULTS, [], None, "kernel_limits", "intvl", "pass", 75, [1, 32767], r"within"),
    ],
)
def test_verdict(values, path, profile, check, subject, status, value, limit, message):
    result = verdicts(values, path, profile)
    assert all(set(item) == KEYS for item in result)
    found = _find(result, check, subject)
    assert (found["status"], found["value"], found["limit"]) == (status, value, limit)
    assert found["message"] and re.search(message, found["message"])


@pytest.mark.parametrize(
    ("socket_count", "status", "value"),
    [(0, "pass", 0.0), (9000, "pass", 50.0), (180001, "warn", 1000.01)],
)
def test_probe_rate(socket_count, status, value):
    found = _find(verdicts(CLOUD, [], socket_count=socket_count), "probe_rate", "host")
    assert (found["status"], found["value"], found["limit"]) == (status, value, 1000)
    assert "probes/s (one each every 180 s)" in found["message"]


def test_probe_rate_only_with_a_socket_count():
    assert not [v for v in verdicts(CLOUD, []) if v["check"] == "probe_rate"]


def test_probe_rate_of_a_zero_time_fails_without_dividing():
    found = _find(verdicts({**CLOUD, "time": 0}, [], socket_count=5), "probe_rate", "host")
    assert found["status"] == "fail" and found["value"] is None


def test_named_profile_and_user_profiles_apply():
    result = verdicts(CLOUD, [], "mine", profiles={"mine": {"detect_within": 200}})
    assert _find(result, "detection_time", "peer")["status"] == "fail"


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        (
            {"time": True, "intvl": 1, "probes": 1},
            {},
            r"values\.time must be an integer, got True \(a boolean\)",
        ),
        ({"time": 60, "intvl": 1}, {}, r"values is missing probes"),
        ("60/10/3", {}, r"values must be a mapping"),
        (CLOUD, {"socket_count": -1}, r"socket_count=-1 is out of range: allowed 0\.\."),
        (CLOUD, {"socket_count": True}, r"socket_count must be an integer"),
        (CLOUD, {"profile": "nope"}, r"unknown profile 'nope'"),
    ],
)
def test_bad_inputs(values, kwargs, message):
    with pytest.raises(KeepaliveError, match=message):
        verdicts(values, [], **kwargs)


def test_idle_verdicts_only_check_layer4_boxes():
    result = idle_verdicts(300, ["aws_alb", "aws_nlb", "azure_firewall"])
    assert [(v["subject"], v["status"]) for v in result] == [
        ("aws_nlb", "pass"),
        ("azure_firewall", "fail"),
    ]


@pytest.mark.parametrize(
    ("path", "detect_within", "expected"),
    [
        (["aws_alb", "envoy"], None, 20),
        (["envoy"], 90, 30),
        (["haproxy"], None, None),
        (["azure_app_gateway"], 600, 25),
        ([{"id": "haproxy", "idle_timeout": 2}], None, 1),
    ],
)
def test_recommended_heartbeat(path, detect_within, expected):
    assert recommended_heartbeat(resolve_path(path), detect_within)[0] == expected


@pytest.mark.parametrize(
    ("statuses", "worst", "counts"),
    [
        ([], "pass", {"pass": 0, "warn": 0, "fail": 0}),
        (["pass", "pass"], "pass", {"pass": 2, "warn": 0, "fail": 0}),
        (["pass", "warn"], "warn", {"pass": 1, "warn": 1, "fail": 0}),
        (["warn", "fail", "pass"], "fail", {"pass": 1, "warn": 1, "fail": 1}),
    ],
)
def test_summarize(statuses, worst, counts):
    items = [
        {"check": "c", "subject": str(i), "status": s, "value": 1, "limit": 1, "message": s}
        for i, s in enumerate(statuses)
    ]
    summary = summarize(items)
    assert (summary["status"], summary["counts"], summary["total"]) == (worst, counts, len(items))
    # failures first, then warnings
    expected = [m for m in ("fail", "warn") if m in statuses]
    assert [p.rsplit(": ", 1)[1] for p in summary["problems"]] == expected

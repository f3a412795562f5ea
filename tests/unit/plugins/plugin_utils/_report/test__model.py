"""The fleet document: totals, per-check counts, problems first, hosts sorted, clear errors."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils import _vocabulary as vocabulary
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _model as model
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (
    report_fleet,
)

WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)


def verdict(check, status, subject="s", message="m"):
    return {
        "check": check,
        "subject": subject,
        "status": status,
        "value": 1,
        "limit": 2,
        "message": message,
    }


def host(name, *verdicts, **extra):
    return dict({"host": name, "verdicts": list(verdicts)}, **extra)


@pytest.fixture(scope="module")
def fleet_doc():
    return model.build_report(report_fleet.fleet(), generated_at=WHEN)


def test_fleet_document_top_level(fleet_doc):
    assert fleet_doc["schema_version"] == 1
    assert fleet_doc["generated_at"] == "2026-11-22T09:30:05Z"
    assert fleet_doc["status"] == "fail"
    assert [h["host"] for h in fleet_doc["hosts"]] == [
        "aws-web-1",
        "azure-db-1",
        "gcp-worker-1",
        "proxy-app-1",
    ]
    assert fleet_doc["totals"] == {
        "hosts": 4,
        "pass": 1,
        "warn": 1,
        "fail": 2,
        "unknown": 0,
        "changed": 2,
    }
    assert [(h["host"], h["status"]) for h in fleet_doc["hosts"]] == [
        ("aws-web-1", "pass"),
        ("azure-db-1", "fail"),
        ("gcp-worker-1", "fail"),
        ("proxy-app-1", "warn"),
    ]


def test_fleet_document_is_json_and_counts_add_up(fleet_doc):
    again = json.loads(json.dumps(fleet_doc))
    assert again == fleet_doc
    per_check = {
        status: sum(c[status] for c in fleet_doc["checks"].values())
        for status in vocabulary.REPORT_STATUSES
    }
    assert per_check == fleet_doc["verdict_totals"]
    assert sum(fleet_doc["verdict_totals"].values()) == sum(
        len(h["verdicts"]) for h in fleet_doc["hosts"]
    )
    assert fleet_doc["checks"]["middlebox_idle"]["fail"] == 1  # the Azure LB at 7200 s
    assert list(fleet_doc["checks"]) == sorted(fleet_doc["checks"])


def test_problems_list_fails_first_then_warns(fleet_doc):
    statuses = [p["status"] for p in fleet_doc["problems"]]
    assert statuses == sorted(statuses, key=lambda s: -vocabulary.STATUS_RANK[s])
    assert "pass" not in statuses
    fails = {(p["host"], p["check"]) for p in fleet_doc["problems"] if p["status"] == "fail"}
    assert fails == {
        ("azure-db-1", "middlebox_idle"),
        ("azure-db-1", "detection_time"),
        ("azure-db-1", "shadowed"),
        ("gcp-worker-1", "socket_idle"),
    }


@pytest.mark.parametrize(
    "verdicts, status, counts",
    [
        ([], "unknown", {"pass": 0, "warn": 0, "fail": 0, "unknown": 1}),
        ([verdict("a", "pass")], "pass", {"pass": 1, "warn": 0, "fail": 0, "unknown": 0}),
        (
            [verdict("a", "pass"), verdict("b", "warn")],
            "warn",
            {"pass": 1, "warn": 1, "fail": 0, "unknown": 0},
        ),
        (
            [verdict("a", "fail"), verdict("b", "warn")],
            "fail",
            {"pass": 0, "warn": 1, "fail": 1, "unknown": 0},
        ),
    ],
)
def test_status_and_counts_follow_the_verdicts(verdicts, status, counts):
    # A stale status or counts in the input cannot make the report disagree with itself.
    item = host("h", *verdicts, status="pass", counts={"pass": 99})
    result = model.normalize_host(item)
    assert result["status"] == status
    assert result["counts"] == counts


@pytest.mark.parametrize(
    "item, key, expected",
    [
        ({"host": "h"}, "path", []),
        ({"host": "h"}, "adoption", None),
        ({"host": "h"}, "boot_values", {}),
        (
            {"host": "h", "boot_values": {"time": 240}},
            "boot_values",
            {"time": {"value": 240, "source": None}},
        ),
        ({"host": "h", "after": {"time": 240, "intvl": 15, "probes": 4}}, "detection_seconds", 300),
        (
            {"host": "h", "path": [{"id": "x", "name": "X box"}]},
            "path",
            [
                {
                    "id": "x",
                    "name": "X box",
                    "product": "X box",
                    "layer": None,
                    "idle_timeout": None,
                    "origin": None,
                    "source": None,
                }
            ],
        ),
        (
            {"host": "h", "adoption": {"summary": [{"unit": "u", "count": 2}]}},
            "adoption",
            {
                "summary": [dict(dict.fromkeys(vocabulary.SUMMARY_KEYS), unit="u", count=2)],
                "namespaces": {},
                "degraded": [],
            },
        ),
        (
            {"host": "h", "adoption": {"namespaces": {"net:[1]": {"sockets": 2}}}},
            "adoption",
            {"summary": [], "namespaces": {"net:[1]": {"sockets": 2}}, "degraded": []},
        ),
        ({"host": "h", "mode": None}, "mode", None),
    ],
)
def test_missing_optional_keys_are_filled(item, key, expected):
    assert model.normalize_host(item)[key] == expected


@pytest.mark.parametrize(
    "hosts, message",
    [
        ({"host": "h"}, "hosts: expected a list of host reports, got {'host': 'h'} (dict)"),
        (
            [{"host": "a"}, "h"],
            "hosts: a host report must be a dict, got 'h' (str) (number 2 of 2 in the list)",
        ),
        (
            [{"verdicts": []}],
            "hosts: 'host' (the inventory name a report is about) must be a "
            "non-empty string, got None (null) in the report with keys verdicts (number 1 of 1",
        ),
        (
            [{"host": ""}],
            "hosts: 'host' (the inventory name a report is about) must be a "
            "non-empty string, got '' (str) in the report with keys host",
        ),
        ([{"host": "h", "schema": 2}], "host h: host report schema 2 is not supported"),
        (
            [host("h", verdict("a", "ok"))],
            "host h: verdicts[0].status is 'ok' (str); allowed: pass, warn, fail",
        ),
        ([host("h", verdict("", "pass"))], "host h: 'verdicts[0].check' must be a non-empty"),
        ([{"host": "h", "verdicts": "all good"}], "host h: 'verdicts' must be a list of dicts"),
        ([{"host": "h", "path": ["aws_nlb"]}], "host h: 'path' must be a list of dicts"),
        (
            [{"host": "h", "after": {"time": 1}}],
            "host h: 'after' must be {time, intvl, probes} of integers or null (intvl, probes "
            "missing), got {'time': 1} (dict)",
        ),
        (
            [{"host": "h", "runtime": {"time": True, "intvl": 1, "probes": 1}}],
            "host h: 'runtime.time' must be an integer -2147483648..2147483647",
        ),
        ([{"host": "h", "boot_values": [240]}], "host h: 'boot_values' must be a dict"),
        ([{"host": "h", "adoption": "off"}], "host h: 'adoption' must be a dict or null"),
        (
            [{"host": "h", "adoption": {"namespaces": "x"}}],
            "host h: 'adoption.namespaces' must be a dict, a list or null",
        ),
        ([{"host": "h"}, {"host": "h"}], "host h: reported twice"),
    ],
)
def test_bad_input_names_the_host_and_key(hosts, message):
    with pytest.raises(KeepaliveError) as caught:
        model.build_report(hosts, generated_at=WHEN)
    assert str(caught.value).startswith(message)


def test_generated_at_must_carry_a_timezone():
    with pytest.raises(KeepaliveError, match="generated_at must carry a timezone"):
        model.build_report([], generated_at=datetime.datetime(2026, 1, 1))


def test_empty_fleet_is_unknown():
    # An audit that saw no host has nothing to be green about.
    doc = model.build_report([], generated_at=WHEN)
    assert (doc["status"], doc["hosts"], doc["problems"]) == ("unknown", [], [])
    assert doc["totals"] == {
        "hosts": 0,
        "pass": 0,
        "warn": 0,
        "fail": 0,
        "unknown": 0,
        "changed": 0,
    }


def test_unseen_host_is_unknown_and_counted():
    doc = model.build_report(
        [host("web-1", verdict("a", "pass"))], unseen={"db-9": "unreachable"}, generated_at=WHEN
    )
    assert doc["status"] == "unknown"
    assert doc["totals"]["unknown"] == 1 and doc["totals"]["pass"] == 1
    assert doc["verdict_totals"] == {"pass": 1, "warn": 0, "fail": 0, "unknown": 1}
    assert doc["checks"]["report_present"] == {"pass": 0, "warn": 0, "fail": 0, "unknown": 1}
    (problem,) = doc["problems"]
    assert (problem["host"], problem["check"], problem["status"]) == (
        "db-9",
        "report_present",
        "unknown",
    )
    assert problem["message"] == "no host report: unreachable"


def test_unseen_host_cannot_also_be_reported():
    with pytest.raises(KeepaliveError, match="host a: reported twice"):
        model.build_report([host("a", verdict("c", "pass"))], unseen={"a": "gone"})


def test_problems_order_fail_unknown_warn():
    doc = model.build_report(
        [host("a", verdict("c", "warn")), host("b", verdict("c", "fail"))],
        unseen={"c": "gone"},
        generated_at=WHEN,
    )
    assert [(p["host"], p["status"]) for p in doc["problems"]] == [
        ("b", "fail"),
        ("c", "unknown"),
        ("a", "warn"),
    ]


@pytest.mark.parametrize(
    "values, seconds",
    [
        ({"time": 240, "intvl": 15, "probes": 4}, 300),
        ({"time": 7200, "intvl": 75, "probes": 9}, 7875),
        ({"time": 240, "intvl": 15}, None),
        (None, None),
    ],
)
def test_detection_seconds(values, seconds):
    assert model.detection_seconds(values) == seconds


# The documented schema (docs/report.md). Changing or removing one of these keys means a new
# schema_version; adding one does not.
TOP_KEYS = {
    "schema_version",
    "generated_at",
    "status",
    "totals",
    "verdict_totals",
    "checks",
    "problems",
    "hosts",
}
HOST_KEYS = {
    "schema",
    "host",
    "mode",
    "check_mode",
    "profile",
    "path",
    "intended",
    "provenance",
    "derivation_error",
    "runtime",
    "after",
    "boot_values",
    "shadowed_by",
    "file",
    "changed",
    "adoption",
    "verdicts",
    "detection_seconds",
    "status",
    "counts",
}


@pytest.mark.parametrize("hosts", [[{"host": "minimal"}], report_fleet.fleet()])
def test_schema_1_keys_are_all_there(hosts):
    doc = model.build_report(hosts, generated_at=WHEN)
    assert set(doc) == TOP_KEYS
    for item in doc["hosts"]:
        assert set(item) >= HOST_KEYS
        for verdict in item["verdicts"]:
            # advice: only on a failing socket group, where the audit found a fix.
            assert set(verdict) - {"advice"} == set(vocabulary.VERDICT_KEYS)
    for problem in doc["problems"]:
        assert set(problem) - {"advice"} == set(vocabulary.VERDICT_KEYS) | {"host"}

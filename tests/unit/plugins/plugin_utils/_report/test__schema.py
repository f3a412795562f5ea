"""Every key of a host report (schema 1) with a wrong type or range: one clear error, no file.

Each row names the key, a bad value and the words the message must carry. The message must
name the host by its name, the key, the value and what is allowed; and the previous report
set in the destination must be byte for byte as it was.
"""

from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _model as model
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _render as render
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (
    report_fleet,
)

WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)
INT_RANGE = "an integer -2147483648..2147483647 (what the sysctl stores)"
PASS = {"check": "kernel_limits", "subject": "time", "status": "pass", "message": "ok"}


def good_host():
    """A realistic, valid host report (from the role's own code) to break one key of."""
    return copy.deepcopy(next(h for h in report_fleet.fleet() if h["host"] == "gcp-worker-1"))


def with_key(path, value):
    """``good_host()`` with the key at ``path`` (a tuple of keys and indexes) set to value."""
    item = good_host()
    target = item
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return item


# (path to the key, bad value, the words the message must carry)
BAD = [
    (("schema",), "1", "'schema' must be an integer (supported: 1), got '1' (str)"),
    (("schema",), 2, "host report schema 2 is not supported (supported: 1)"),
    (("schema",), True, "'schema' must be an integer (supported: 1), got True (bool)"),
    (("mode",), "apply", "mode is 'apply' (str); allowed: enforce, audit"),
    (("mode",), 1, "mode is 1 (int); allowed: enforce, audit"),
    (("check_mode",), "yes", "'check_mode' must be true, false or null, got 'yes' (str)"),
    (("changed",), 1, "'changed' must be true, false or null, got 1 (int)"),
    (("profile",), ["cloud"], "'profile' must be a string or null, got ['cloud'] (list)"),
    (("derivation_error",), 3, "'derivation_error' must be a string or null, got 3 (int)"),
    (("file",), {"a": 1}, "'file' must be a string or null, got {'a': 1} (dict)"),
    (("provenance",), "explicit", "'provenance' must be a dict or null, got 'explicit' (str)"),
    (
        ("intended",),
        [180, 20, 3],
        "'intended' must be {time, intvl, probes} of integers or null, got [180, 20, 3] (list)",
    ),
    (("intended", "time"), "180", "'intended.time' must be %s, got '180' (str)" % INT_RANGE),
    (("runtime", "intvl"), 7.5, "'runtime.intvl' must be %s, got 7.5 (float)" % INT_RANGE),
    (
        ("runtime", "probes"),
        2**40,
        "'runtime.probes' must be %s, got 1099511627776 (int)" % INT_RANGE,
    ),
    (("after", "time"), None, "'after.time' must be %s, got None (null)" % INT_RANGE),
    (("after", "time"), False, "'after.time' must be %s, got False (bool)" % INT_RANGE),
    (("path",), "gcp_cloud_nat", "'path' must be a list of dicts, got 'gcp_cloud_nat' (str)"),
    (("path",), ["gcp_cloud_nat"], "'path' must be a list of dicts, got ['gcp_cloud_nat']"),
    (
        ("path", 0, "idle_timeout"),
        -5,
        "'path[0].idle_timeout' must be an integer 1..315360000 s or null, got -5 (int)",
    ),
    (("path", 0, "idle_timeout"), 0, "'path[0].idle_timeout' must be an integer 1..315360000"),
    (
        ("path", 0, "idle_timeout"),
        "350",
        "'path[0].idle_timeout' must be an integer 1..315360000 s or null, got '350' (str)",
    ),
    (("path", 0, "layer"), "4", "path[0].layer is '4' (str); allowed: 4, 7"),
    (("path", 0, "layer"), 3, "path[0].layer is 3 (int); allowed: 4, 7"),
    (("path", 0, "id"), 7, "'path[0].id' must be a string or null, got 7 (int)"),
    (("boot_values",), [180], "'boot_values' must be a dict or null, got [180] (list)"),
    (
        ("boot_values", "time"),
        "180",
        "'boot_values.time' must be {value, source}, an integer or null, got '180' (str)",
    ),
    (
        ("boot_values", "time", "value"),
        "180",
        "'boot_values.time.value' must be an integer "
        "-2147483648..2147483647 or null, got '180' (str)",
    ),
    (
        ("boot_values", "intvl", "source"),
        12,
        "'boot_values.intvl.source' must be a string or null, got 12 (int)",
    ),
    (("shadowed_by",), {"file": "x"}, "'shadowed_by' must be a list of dicts"),
    (
        ("shadowed_by",),
        [{"file": "/etc/sysctl.conf", "line": 0}],
        "'shadowed_by[0].line' must be an integer 1..2147483647 or null, got 0 (int)",
    ),
    (("shadowed_by",), [{"file": 5}], "'shadowed_by[0].file' must be a string or null, got 5"),
    (
        ("shadowed_by",),
        [{"value": [1]}],
        "'shadowed_by[0].value' must be a string, an integer or null, got [1] (list)",
    ),
    (("adoption",), "off", "'adoption' must be a dict or null, got 'off' (str)"),
    (
        ("adoption", "summary"),
        {"unit": "x"},
        "'adoption.summary' must be a list of dicts, got {'unit': 'x'}",
    ),
    (
        ("adoption", "summary", 0, "count"),
        -2,
        "'adoption.summary[0].count' must be an integer 0..2147483647 or null, got -2 (int)",
    ),
    (("adoption", "summary", 0, "count"), "8", "'adoption.summary[0].count' must be an integer"),
    (
        ("adoption", "summary", 0, "keepalive"),
        "yes",
        "'adoption.summary[0].keepalive' must be true, false or null, got 'yes' (str)",
    ),
    (("adoption", "summary", 0, "idle"), "180", "'adoption.summary[0].idle' must be an integer"),
    (("adoption", "summary", 0, "unit"), 1, "'adoption.summary[0].unit' must be a string"),
    (
        ("adoption", "namespaces"),
        "net:[1]",
        "'adoption.namespaces' must be a dict, a list or null, got 'net:[1]' (str)",
    ),
    (("adoption", "degraded"), "pidfd", "'adoption.degraded' must be a list or null"),
    (("verdicts",), "all good", "'verdicts' must be a list of dicts, got 'all good' (str)"),
    (("verdicts",), [None], "'verdicts' must be a list of dicts, got [None] (list)"),
    (
        ("verdicts", 0, "status"),
        "ok",
        "verdicts[0].status is 'ok' (str); allowed: pass, warn, fail",
    ),
    (("verdicts", 0, "status"), "unknown", "verdicts[0].status is 'unknown' (str); allowed"),
    (("verdicts", 0, "status"), None, "verdicts[0].status is None (null); allowed"),
    (("verdicts", 0, "check"), "", "'verdicts[0].check' must be a non-empty string, got ''"),
    (("verdicts", 0, "check"), 5, "'verdicts[0].check' must be a non-empty string, got 5 (int)"),
    (
        ("verdicts", 0, "subject"),
        {"a": 1},
        "'verdicts[0].subject' must be a string, an integer or null",
    ),
    (("verdicts", 0, "message"), ["m"], "'verdicts[0].message' must be a string or null"),
    (
        ("verdicts", 0, "value"),
        {"v": 1},
        "'verdicts[0].value' must be a number, a string, a "
        "list of them or null, got {'v': 1} (dict)",
    ),
    (("verdicts", 0, "limit"), [[1, 2]], "'verdicts[0].limit' must be a number, a string"),
    (
        ("detection_seconds",),
        "abc",
        "'detection_seconds' must be after.time + after.intvl x "
        "after.probes = 240, or null, got 'abc' (str)",
    ),
    (
        ("detection_seconds",),
        -1,
        "'detection_seconds' must be after.time + after.intvl x "
        "after.probes = 240, or null, got -1 (int)",
    ),
    (("detection_seconds",), 241, "= 240, or null, got 241 (int)"),
    (("detection_seconds",), 240.0, "= 240, or null, got 240.0 (float)"),
    (("detection_idle_seconds",), 241, "'detection_idle_seconds' must be after.time + after"),
    (("detection_idle_seconds",), "240", "= 240, or null, got '240' (str)"),
    (("detection_busy_seconds",), -0.5, "'detection_busy_seconds' must be a number of seconds"),
    (("detection_busy_seconds",), True, "must be a number of seconds >= 0 or null, got True"),
    (("detection_busy_seconds",), float("nan"), "must be a number of seconds >= 0 or null"),
    (("detection_busy_seconds",), "17 min", "got '17 min' (str)"),
    (("retries2",), 256, "'retries2' must be an integer 0..255 or null, got 256 (int)"),
    (("retries2",), 7.0, "'retries2' must be an integer 0..255 or null, got 7.0 (float)"),
    (("intended", "retries2"), -1, "'intended.retries2' must be an integer 0..255 or null"),
    (
        ("sockets_retransmitting",),
        -1,
        "'sockets_retransmitting' must be an integer 0..2147483647 or null, got -1 (int)",
    ),
    (("sockets_retransmitting",), 1.5, "got 1.5 (float)"),
    (("sockets_probing",), "2", "'sockets_probing' must be an integer 0..2147483647 or null"),
    (("sockets_probing",), True, "got True (bool)"),
    (
        ("adoption", "summary", 0, "retransmitting"),
        -1,
        "'adoption.summary[0].retransmitting' must be an integer 0..2147483647 or null",
    ),
    (("adoption", "summary", 0, "probing"), "0", "'adoption.summary[0].probing' must be"),
]


def _ids(row):
    return "-".join(str(step) for step in row[0]) + "=" + repr(row[1])[:20]


@pytest.mark.parametrize("path, value, words", BAD, ids=[_ids(row) for row in BAD])
def test_bad_key_is_named_with_host_value_and_rule(path, value, words):
    with pytest.raises(KeepaliveError) as caught:
        model.build_report([with_key(path, value)])
    message = str(caught.value)
    assert message.startswith("host gcp-worker-1: "), message
    assert words in message, message
    assert "hosts[" not in message


def test_the_good_host_is_valid_and_the_table_covers_every_key():
    assert model.build_report([good_host()], generated_at=WHEN)["status"] == "fail"
    covered = {path[0] for path, _value, _words in BAD}
    documented = set(model.HOST_DEFAULTS) - {"status", "counts"}
    assert documented <= covered, documented - covered


@pytest.mark.parametrize(
    "detection, after, allowed",
    [
        (None, None, True),
        (300, None, True),
        (-1, None, False),
        ("x", None, False),
        (300, {"time": 240, "intvl": 15, "probes": 4}, True),
        (301, {"time": 240, "intvl": 15, "probes": 4}, False),
    ],
)
def test_detection_seconds_rule(detection, after, allowed):
    item = {"host": "h", "detection_seconds": detection, "after": after, "verdicts": [PASS]}
    if allowed:
        model.normalize_host(item)
        return
    with pytest.raises(KeepaliveError, match="host h: 'detection_seconds' must be"):
        model.normalize_host(item)


@pytest.mark.parametrize(
    "after, verdicts, message",
    [
        (
            {"time": -5, "intvl": 20, "probes": 3},
            [PASS],
            "host h: 'after.time' is -5, outside the kernel limits 1..32767, and no failing "
            "kernel_limits verdict (subject time) reports it",
        ),
        (
            {"time": 180, "intvl": 20, "probes": 0},
            [PASS],
            "host h: 'after.probes' is 0, outside the kernel limits 1..127",
        ),
        (
            {"time": 40000, "intvl": 20, "probes": 3},
            [dict(PASS, status="fail", subject="intvl")],
            "host h: 'after.time' is 40000",
        ),
    ],
)
def test_out_of_limits_after_needs_its_failing_verdict(after, verdicts, message):
    with pytest.raises(KeepaliveError) as caught:
        model.normalize_host({"host": "h", "after": after, "verdicts": verdicts})
    assert str(caught.value).startswith(message)


def test_out_of_limits_after_with_its_verdict_is_a_failing_host():
    # The sysctl takes -5; the role's own report carries the failing verdict: shown, not refused.
    item = {
        "host": "h",
        "after": {"time": -5, "intvl": 20, "probes": 3},
        "verdicts": [dict(PASS, status="fail", value=-5, limit=[1, 32767])],
    }
    assert model.normalize_host(item)["status"] == "fail"


def test_unknown_keys_are_kept_for_newer_roles():
    item = dict(good_host(), fails_host=True, future_key={"x": 1})
    assert model.normalize_host(item)["future_key"] == {"x": 1}


def previous_set(dest):
    """A previous report set in ``dest``; returns {name: bytes}."""
    doc = model.build_report(report_fleet.fleet(), generated_at=WHEN)
    render.write_report(doc, str(dest), render.FORMATS)
    return {p.name: p.read_bytes() for p in dest.iterdir()}


def test_no_bad_row_writes_or_changes_a_file(tmp_path):
    """The action's order (check, render, write) on every row: the previous set stays."""
    dest = tmp_path / "report"
    before = previous_set(dest)
    errors = 0
    for path, value, _words in BAD:
        try:
            # A good host first: one bad host among good ones must still stop everything.
            doc = model.build_report([good_host(), dict(with_key(path, value), host="bad-1")])
            render.write_report(doc, str(dest), render.FORMATS)
        except KeepaliveError as exc:
            errors += 1
            assert str(exc).startswith("host bad-1: "), exc
        assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    assert errors == len(BAD)

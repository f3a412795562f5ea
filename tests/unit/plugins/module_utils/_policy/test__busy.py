"""Busy connections in the policy: profile keys, the tcp_retries2 proposal, the busy_detection
verdict, the plan and the host report (docs/policy.md, "Idle and busy connections")."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _engine as policy
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import (
    resolve_profile,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._verdicts import (
    busy_verdict,
    verdicts,
)

CLOUD = {"time": 180, "intvl": 20, "probes": 3}


def _busy(result):
    found = [v for v in result if v["check"] == "busy_detection"]
    assert len(found) == 1, result
    return found[0]


@pytest.mark.parametrize(
    ("profile", "retries2", "status", "value", "limit", "message_part"),
    [
        # No busy requirement: a pass that says what decides, 15 assumed when not read.
        ("cloud", None, "pass", 1044.6, None, "the kernel default tcp_retries2 15, not read"),
        ("database", 15, "pass", 1044.6, None, "(tcp_retries2 15); no detect_busy_within"),
        # Over ten times detect_within (30 s): the idle promise is all there is; warn.
        ("latency_sensitive", None, "warn", 1044.6, 300, "over 10 times detect_within 30 s"),
        ("latency_sensitive", 8, "pass", 204.6, None, "no detect_busy_within requirement"),
        # Asked: pass within, fail over, by how much.
        ({"base": "database", "detect_busy_within": 120}, 7, "pass", 102.2, 120, "within"),
        ({"base": "database", "detect_busy_within": 120}, 15, "fail", 1044.6, 120, "by 924.6 s"),
        # The profile's user timeout replaces tcp_retries2 (the kernel ignores it then).
        ({"base": "database", "user_timeout": 30}, 15, "pass", 30.2, None, "TCP_USER_TIMEOUT 30"),
        (
            {"base": "database", "user_timeout": 30, "detect_busy_within": 20},
            None,
            "fail",
            30.2,
            20,
            "over by 10.2 s",
        ),
        # A tcp_retries2 so small that a blip shorter than tolerate_outage drops busy
        # connections: a warning even where the detection itself passes.
        ("database", 3, "warn", 6.2, 30, "a network blip of 3.2 s can drop"),
        ({"base": "database", "user_timeout": 5}, None, "warn", 5.2, 30, "blip of 5.2 s"),
        # A host value out of range is named, not a crash.
        ("database", 300, "warn", 300, None, "tcp_retries2=300: allowed an integer 0..255"),
    ],
)
def test_busy_verdict(profile, retries2, status, value, limit, message_part):
    verdict = busy_verdict(retries2, resolve_profile(profile))
    assert (verdict["status"], verdict["value"], verdict["limit"]) == (status, value, limit)
    assert verdict["subject"] == "peer"
    assert message_part in verdict["message"], verdict["message"]


def test_verdicts_take_the_namespace_retries2():
    assert _busy(verdicts(CLOUD, [], "cloud"))["value"] == 1044.6
    assert _busy(verdicts(CLOUD, [], "cloud", retries2=5))["value"] == 25.4


def test_detection_time_says_it_is_the_idle_figure():
    found = [v for v in verdicts(CLOUD, [], "cloud") if v["check"] == "detection_time"]
    assert found[0]["message"].startswith("when idle, a dead peer is noticed after up to 240 s")


@pytest.mark.parametrize(
    ("profile", "retries2", "busy", "args"),
    [
        # Not asked: nothing proposed, the busy figure of the kernel default.
        ("database", None, 1044.6, {}),
        # Asked: the smallest value that outlasts tolerate_outage and is within the budget.
        ({"base": "database", "detect_busy_within": 120}, 7, 102.2, {"tcp_retries2": 7}),
        ({"base": "cloud", "detect_busy_within": 300}, 8, 204.6, {"tcp_retries2": 8}),
        ({"base": "latency_sensitive", "detect_busy_within": 30}, 5, 25.4, {"tcp_retries2": 5}),
        # With a user timeout the applications bound busy connections: nothing proposed.
        ({"base": "database", "detect_busy_within": 60, "user_timeout": 40}, None, 40.2, {}),
    ],
)
def test_derive_proposes_retries2_only_when_asked(profile, retries2, busy, args):
    result = policy.derive(profile, [])
    proposal = result["retries2"]
    assert (None if proposal is None else proposal["value"]) == retries2
    assert result["detection_busy"] == busy
    assert result["detection_idle"] == float(result["detection_time"])
    extra = {k: v for k, v in result["sysctl_args"].items() if not k.startswith("tcp_keepalive")}
    assert extra == args
    if proposal is not None:
        assert "every connection of the network namespace" in proposal["scope"]
        assert proposal["tolerates"] >= result["requirements"]["tolerate_outage"]
        assert _busy(result["verdicts"])["status"] == "pass"


def test_an_unreachable_busy_budget_is_an_infeasible_profile():
    profile = {"base": "database", "detect_busy_within": 20}
    with pytest.raises(
        KeepaliveError, match="profile 'inline': no tcp_retries2 satisfies both"
    ) as exc:
        policy.derive(profile, [])
    assert exc.value.details["conflicts"]
    planned = plan_values(profile, [])
    assert planned["intended"] is None
    assert "surviving a 30 s outage with data in flight" in planned["error"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("detect_busy_within", 0, "profile.detect_busy_within=0 is out of range: allowed 1.."),
        ("detect_busy_within", "60", "profile.detect_busy_within must be an integer"),
        ("user_timeout", True, "profile.user_timeout must be an integer in 1..2147483 s"),
        ("user_timeout", 2147484, "allowed 1..2147483 s"),
    ],
)
def test_bad_busy_keys(key, value, message):
    with pytest.raises(KeepaliveError, match=message.replace(".", r"\.")):
        resolve_profile({key: value})


def test_busy_keys_resolve_inherit_and_drop():
    assert resolve_profile("cloud")["detect_busy_within"] is None
    user = {"fast": {"base": "database", "detect_busy_within": 120, "user_timeout": 30}}
    prof = resolve_profile({"base": "fast", "user_timeout": None}, user)
    assert (prof["detect_busy_within"], prof["user_timeout"]) == (120, None)
    assert "user_timeout" not in prof["defaults_used"]


def _sysctl(values, retries2=None):
    found = {"tcp_keepalive_%s" % k: v for k, v in values.items()}
    if retries2 is not None:
        found["tcp_retries2"] = retries2
    return {"before": found, "after": found}


def test_the_plan_carries_retries2_with_its_reason_only_when_asked():
    assert "retries2" not in plan_values("database", [])["intended"]
    planned = plan_values({"base": "database", "detect_busy_within": 120}, [])
    assert planned["intended"] == {"time": 90, "intvl": 10, "probes": 3, "retries2": 7}
    reason = planned["provenance"]["retries2"]["reason"]
    assert reason.startswith("smallest tcp_retries2 that survives an outage")
    assert reason.endswith("not only to the keepalive ones")


@pytest.mark.parametrize(
    ("profile", "retries2", "busy", "status"),
    [
        ("cloud", None, 1044.6, "pass"),  # the module did not say: 15 assumed
        ("cloud", 8, 204.6, "pass"),
        ("latency_sensitive", None, 1044.6, "warn"),
        ({"base": "database", "detect_busy_within": 120}, 7, 102.2, "pass"),
        ({"base": "database", "detect_busy_within": 120}, 15, 1044.6, "fail"),
        ({"base": "database", "user_timeout": 30}, 15, 30.2, "pass"),
    ],
)
def test_host_report_has_both_figures(profile, retries2, busy, status):
    planned = plan_values(profile, [])
    values = {k: v for k, v in planned["intended"].items() if k != "retries2"}
    report = host_report(planned, "h1", sysctl=_sysctl(values, retries2))
    assert report["retries2"] == retries2
    assert report["detection_idle_seconds"] == report["detection_seconds"]
    assert report["detection_busy_seconds"] == busy
    assert _busy(report["verdicts"])["status"] == status


def test_host_report_without_values_has_no_figures():
    report = host_report(plan_values("cloud", []), "h1", sysctl_error="boom")
    assert report["detection_busy_seconds"] is None and report["detection_idle_seconds"] is None


def test_busy_figures_table_in_the_docs_is_what_derive_returns():
    text = (Path(__file__).resolve().parents[5] / "docs" / "policy.md").read_text()
    lines = text[text.index("| Built-in | idle") :].splitlines()
    rows = [line.strip("|").split("|") for line in lines[2:] if line.startswith("|")]
    rows = rows[: next((i for i, r in enumerate(rows) if not r[0].strip()), len(rows))]
    seen = {}
    for cells in rows:
        name, idle, busy = (cell.strip().strip("`") for cell in cells[:3])
        result = policy.derive(name, [])
        verdict = _busy(result["verdicts"])
        assert (float(idle.split()[0]), float(busy.split()[0])) == (
            result["detection_idle"],
            result["detection_busy"],
        ), name
        seen[name] = verdict["status"]
    assert set(seen) == set(policy.BUILTIN_PROFILES)
    assert seen["latency_sensitive"] == "warn"


@pytest.mark.parametrize(
    ("profile", "outcome"),
    [
        # keepalive_sysctl refuses 0..2: a tiny tolerate_outage still gets 3, and says why.
        ({"tolerate_outage": 0, "detect_within": 60, "detect_busy_within": 60}, 3),
        (
            {"tolerate_outage": 1, "detect_within": 60, "detect_busy_within": 5},
            "takes tcp_retries2=3 (3 is the lowest value allowed), which notices a dead peer "
            "only after 6.2 s, over detect_busy_within 5 s by 1.2 s",
        ),
    ],
)
def test_the_proposal_never_goes_below_what_keepalive_sysctl_accepts(profile, outcome):
    if isinstance(outcome, str):
        with pytest.raises(KeepaliveError, match=outcome.replace("(", r"\(").replace(")", r"\)")):
            policy.derive(profile, [])
        return
    proposal = policy.derive(profile, [])["retries2"]
    assert proposal["value"] == outcome
    assert "(3 is the lowest value allowed)" in proposal["reason"]

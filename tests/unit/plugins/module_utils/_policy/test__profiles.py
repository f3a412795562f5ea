"""Kernel limits, input validation and profile resolution."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import (
    BUILTIN_PROFILES,
    KERNEL_LIMITS,
    LINUX_DEFAULTS,
    resolve_profile,
    validate_values,
)


def test_kernel_facts():
    assert KERNEL_LIMITS == {"time": (1, 32767), "intvl": (1, 32767), "probes": (1, 127)}
    assert LINUX_DEFAULTS == {"time": 7200, "intvl": 75, "probes": 9}


@pytest.mark.parametrize(
    "values",
    [
        {"time": 1, "intvl": 1, "probes": 1},
        {"time": 32767, "intvl": 32767, "probes": 127},
        {"time": 7200, "intvl": 75, "probes": 9},
    ],
)
def test_valid_values_pass_unchanged(values):
    assert validate_values(values) == values


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"time": 0, "intvl": 75, "probes": 9},
            r"values\.time=0 is out of range: allowed 1\.\.32767",
        ),
        (
            {"time": 7200, "intvl": 32768, "probes": 9},
            r"values\.intvl=32768 is out of range: allowed 1\.\.32767",
        ),
        (
            {"time": 7200, "intvl": 75, "probes": 128},
            r"values\.probes=128 is out of range: allowed 1\.\.127",
        ),
        (
            {"time": True, "intvl": 75, "probes": 9},
            r"values\.time must be an integer in 1\.\.32767, got True \(a boolean\)",
        ),
        (
            {"time": "600", "intvl": 75, "probes": 9},
            r"values\.time must be an integer in 1\.\.32767, got '600' \(str\)",
        ),
        (
            {"time": 60.0, "intvl": 75, "probes": 9},
            r"values\.time must be an integer .*got 60\.0 \(float\)",
        ),
        ({"time": 60, "intvl": None, "probes": 9}, r"values\.intvl must be an integer .*got None"),
        ({"time": 60, "intvl": 10}, r"values is missing probes"),
        ({"time": 60, "intvl": 10, "probes": 3, "idle": 5}, r"unknown keys \['idle'\]"),
        ([60, 10, 3], r"values must be a mapping"),
    ],
)
def test_bad_values_name_option_value_and_range(values, message):
    with pytest.raises(KeepaliveError, match=message):
        validate_values(values)


def test_partial_values_allow_missing_and_null():
    assert validate_values({"time": 60, "intvl": None}, partial=True) == {"time": 60}


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
def test_builtin_profiles_resolve(name):
    prof = resolve_profile(name)
    assert prof["name"] == name
    assert prof["description"]
    assert prof["tolerate_outage"] >= 0 and prof["margin"] >= 0


def test_requirement_defaults_are_reported():
    prof = resolve_profile({"detect_within": 100})
    assert (prof["tolerate_outage"], prof["margin"]) == (30, 30)
    assert prof["defaults_used"] == ["margin", "tolerate_outage"]
    assert prof["name"] == "inline"


@pytest.mark.parametrize(
    ("profiles", "name", "expected"),
    [
        # a user profile replaces the built-in of the same name
        ({"cloud": {"time": 100}}, "cloud", {"values": {"time": 100}, "detect_within": None}),
        # base: its own name extends the built-in
        (
            {"cloud": {"base": "cloud", "detect_within": 400}},
            "cloud",
            {"values": {"time": 180}, "detect_within": 400, "tolerate_outage": 60},
        ),
        # base chains through user profiles; null drops an inherited explicit value
        (
            {"a": {"base": "b", "time": None}, "b": {"base": "cloud", "intvl": 7}},
            "a",
            {"values": {"intvl": 7}, "detect_within": 300},
        ),
    ],
)
def test_user_profiles_merge_over_builtins(profiles, name, expected):
    prof = resolve_profile(name, profiles)
    for key, value in expected.items():
        assert prof[key] == value


@pytest.mark.parametrize(
    ("profile", "profiles", "message"),
    [
        ("clod", None, r"unknown profile 'clod'; known profiles: cloud, database"),
        ("x", {"x": {"base": "y"}, "y": {"base": "x"}}, r"profile base loop: x -> y -> x"),
        ({"time": 60, "timeout": 5}, None, r"profile 'inline' has unknown keys \['timeout'\]"),
        ({"detect_within": 1}, None, r"profile\.detect_within=1 is out of range: allowed 2\.\."),
        ({"tolerate_outage": -1}, None, r"profile\.tolerate_outage=-1 is out of range"),
        ({"margin": False}, None, r"profile\.margin must be an integer .*\(a boolean\)"),
        (
            "mine",
            {"mine": {"probes": 0}},
            r"profiles\.mine\.probes=0 is out of range: allowed 1\.\.127",
        ),
        (42, None, r"profile must be a name or a mapping, got 42"),
        ("a", {"a": {"base": 5}}, r"base must be a profile name"),
        ("cloud", ["cloud"], r"profiles must be a mapping"),
    ],
)
def test_bad_profiles_are_refused(profile, profiles, message):
    with pytest.raises(KeepaliveError, match=message):
        resolve_profile(profile, profiles)

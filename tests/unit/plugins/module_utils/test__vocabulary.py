"""The shared facts: names in one order, the formula, status ranks, the gate, the checks."""

from __future__ import annotations

import fnmatch

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils import _vocabulary as vocabulary


def test_every_name_table_lists_the_three_values_in_one_order():
    assert vocabulary.VALUE_NAMES == ("time", "intvl", "probes")
    assert vocabulary.OPTION_NAMES == (
        "tcp_keepalive_time",
        "tcp_keepalive_intvl",
        "tcp_keepalive_probes",
    )
    assert tuple("net.ipv4." + o for o in vocabulary.OPTION_NAMES) == vocabulary.SYSCTL_KEYS
    for name, option in zip(vocabulary.VALUE_NAMES, vocabulary.OPTION_NAMES, strict=True):
        assert vocabulary.OPTION_OF[name] == option
        assert vocabulary.VALUE_OF[option] == name
        assert vocabulary.SYSCTL_KEY_OF[option] == vocabulary.SYSCTL_NAMES[name]


def test_kernel_limits_and_linux_defaults():
    assert vocabulary.KERNEL_LIMITS == {"time": (1, 32767), "intvl": (1, 32767), "probes": (1, 127)}
    assert vocabulary.LINUX_DEFAULTS == {"time": 7200, "intvl": 75, "probes": 9}
    assert vocabulary.detection_time(vocabulary.LINUX_DEFAULTS) == 7875
    assert vocabulary.probe_window(75, 9) == 675


def test_short_names_drop_other_keys():
    given = {"tcp_keepalive_time": 1, "tcp_keepalive_probes": 3, "changed": True}
    assert vocabulary.short_names(given) == {"time": 1, "probes": 3}


@pytest.mark.parametrize(
    "statuses, worst",
    [
        (["pass", "unknown"], "unknown"),
        (["warn", "unknown"], "unknown"),
        (["fail", "unknown"], "fail"),
        (["pass", "warn"], "warn"),
        ([], "unknown"),
    ],
)
def test_unknown_ranks_above_warn_and_below_fail(statuses, worst):
    assert vocabulary.worst_status(statuses) == worst


# The role's host gate and keepalive_report's fleet gate are this one table.
@pytest.mark.parametrize(
    "fail_on, failing",
    [
        ("fail", {"fail", "unknown"}),
        ("warn", {"warn", "fail", "unknown"}),
        ("never", set()),
    ],
)
def test_fails_gate(fail_on, failing):
    for status in vocabulary.REPORT_STATUSES:
        assert vocabulary.fails_gate(status, fail_on) is (status in failing)


@pytest.mark.parametrize(
    "value, integer",
    [(1, True), (0, True), (True, False), (1.0, False), ("1", False), (None, False)],
)
def test_is_integer_refuses_booleans(value, integer):
    assert vocabulary.is_integer(value) is integer


@pytest.mark.parametrize(
    "name, linux",
    [("linux", True), ("Linux", True), ("darwin", False), ("freebsd14", False), ("Darwin", False)],
)
def test_is_linux(name, linux):
    assert vocabulary.is_linux(name) is linux


def test_make_verdict_has_the_verdict_keys_in_order():
    verdict = vocabulary.make_verdict("c", "s", "pass", 1, 2, "m")
    assert tuple(verdict) == vocabulary.VERDICT_KEYS
    assert tuple(verdict.values()) == ("c", "s", "pass", 1, 2, "m")


PATTERNS = ("redis*.service", "sshd@?.service", "pg_[bd]*", "a.b", "x[!0-9]")


@pytest.mark.parametrize(
    "name",
    ["redis.service", "redis-6379.service", "Redis.service", "sshd@1.service", "sshd@12.service",
     "pg_dump", "pg_basebackup", "pg_restore", "a.b", "axb", "xa", "x1", "", "redis.service\n"],
)  # fmt: skip
def test_pattern_matcher_agrees_with_fnmatchcase(name):
    expected = any(fnmatch.fnmatchcase(name, pattern) for pattern in PATTERNS)
    assert vocabulary.pattern_matcher(PATTERNS)(name) is expected


def test_pattern_matcher_without_patterns_or_name_matches_nothing():
    assert vocabulary.pattern_matcher(())("anything") is False
    assert vocabulary.pattern_matcher(("*",))(None) is False
    assert vocabulary.pattern_matcher(("*",))("") is True

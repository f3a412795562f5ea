"""A boot value that another file overrides is judged by on_shadowed, not always failed."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)

WANTED = {"tcp_keepalive_time": 180, "tcp_keepalive_intvl": 20, "tcp_keepalive_probes": 3}
SHADOW = {
    "file": "/etc/sysctl.conf",
    "line": 1,
    "key": "net.ipv4.tcp_keepalive_time",
    "value": "7200",
}


def sysctl(shadowed):
    boot = {
        key: {"value": value, "source": "/etc/sysctl.d/90-netstack-keepalive.conf:2"}
        for key, value in WANTED.items()
    }
    if shadowed:
        boot["tcp_keepalive_time"] = {"value": 7200, "source": "/etc/sysctl.conf:1"}
    return {
        "before": WANTED,
        "after": WANTED,
        "boot_values": boot,
        "shadowed_by": [SHADOW] if shadowed else [],
    }


@pytest.mark.parametrize(
    "on_shadowed, persist, shadowed, expected",
    [
        ("fail", True, True, "fail"),
        ("warn", True, True, "warn"),
        ("ignore", True, True, "pass"),
        ("warn", False, True, "warn"),
        ("ignore", False, True, "warn"),  # persist off: the boot value is only a warning
    ],
)
def test_boot_value_status_follows_on_shadowed(on_shadowed, persist, shadowed, expected):
    report = host_report(
        plan_values("cloud", ["aws_nlb"]),
        "h1",
        sysctl=sysctl(shadowed),
        on_shadowed=on_shadowed,
        persist=persist,
    )
    (boot,) = [v for v in report["verdicts"] if v["check"] == "boot_value"]
    assert boot["status"] == expected
    (shadow,) = [v for v in report["verdicts"] if v["check"] == "shadowed"]
    assert shadow["status"] == {"fail": "fail", "warn": "warn", "ignore": "pass"}[on_shadowed]


def test_an_infeasible_inline_profile_is_labelled_like_a_feasible_one():
    assert (
        plan_values({"detect_within": 20})["profile"]
        == plan_values({"detect_within": 60})["profile"]
    )

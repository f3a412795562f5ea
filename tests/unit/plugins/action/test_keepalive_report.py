"""The action's pure parts: plain data from hostvars, and the result with fail_on."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.netstack.keepalive.plugins.action import keepalive_report as action
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report_model import (
    build_report,
)

WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)


def fleet(*statuses):
    return build_report(
        [
            {"host": "h%d" % n, "verdicts": [{"check": "c", "status": status}]}
            for n, status in enumerate(statuses)
        ],
        generated_at=WHEN,
    )


@pytest.mark.parametrize(
    "statuses, fail_on, failed",
    [
        (["pass", "warn", "fail"], "never", False),
        (["pass", "warn", "fail"], "fail", True),
        (["pass", "warn"], "fail", False),
        (["pass", "warn"], "warn", True),
        (["pass"], "warn", False),
        ([], "warn", False),
    ],
)
def test_fail_on(statuses, fail_on, failed):
    result = action._summary(fleet(*statuses), "/r", ["/r/report.json"], fail_on)
    assert result["failed"] is failed
    assert result["changed"] is False


def test_summary_names_failing_hosts_and_folder():
    result = action._summary(fleet("fail", "warn", "fail"), "/r", [], "never")
    assert result["msg"] == "fleet report FAIL: 3 hosts, 2 fail (h0, h2), 1 warn; written to /r"
    assert (result["failing_hosts"], result["warning_hosts"]) == (["h0", "h2"], ["h1"])
    assert result["counts"] == {"pass": 0, "warn": 1, "fail": 2}


class LazyMapping:
    """Stands in for the lazy containers hostvars hand out: has items(), is not a dict."""

    def __init__(self, data):
        self.data = data

    def items(self):
        return self.data.items()


@pytest.mark.parametrize(
    "value, plain",
    [
        ([{"host": "a", "path": ("x", "y")}], [{"host": "a", "path": ["x", "y"]}]),
        ([LazyMapping({"host": "a"})], [{"host": "a"}]),
        ([{"host": "a", "tags": frozenset(["t"])}], [{"host": "a", "tags": ["t"]}]),
    ],
)
def test_plain_turns_containers_into_json_types(value, plain):
    assert action._plain(value) == plain


def test_plain_refuses_what_is_not_data():
    with pytest.raises(KeepaliveError, match="hosts: a host report is not plain data: object"):
        action._plain([{"host": "a", "when": object()}])

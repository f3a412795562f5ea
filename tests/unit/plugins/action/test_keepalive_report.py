"""The action's pure parts: plain data from hostvars, and the result with fail_on."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.netstack.keepalive.plugins.action import keepalive_report as action
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report._model import (
    build_report,
)

WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)


def fleet(*statuses):
    """Hosts h0, h1, ... with one verdict each; None is a host with no verdicts (unknown)."""
    return build_report(
        [
            {"host": "h%d" % n, "verdicts": [{"check": "c", "status": status}] if status else []}
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
        (["pass"], "fail", False),
        # A host nobody could audit fails the gate: an audit that could not see is not green.
        (["pass", None], "fail", True),
        (["pass", None], "warn", True),
        (["pass", None], "never", False),
        ([], "fail", True),
        ([], "never", False),
    ],
)
def test_fail_on(statuses, fail_on, failed):
    result = action._summary(fleet(*statuses), "/r", ["/r/report.json"], fail_on)
    assert result["failed"] is failed
    assert result["changed"] is False


def test_summary_names_failing_unknown_and_warning_hosts():
    result = action._summary(fleet("fail", "warn", "fail", None), "/r", [], "never")
    assert result["msg"] == (
        "fleet report FAIL: 4 hosts, 2 fail (h0, h2), 1 unknown (h3), 1 warn; written to /r"
    )
    assert (result["failing_hosts"], result["unknown_hosts"], result["warning_hosts"]) == (
        ["h0", "h2"],
        ["h3"],
        ["h1"],
    )
    assert result["counts"] == {"pass": 0, "warn": 1, "fail": 2, "unknown": 1}
    assert result["totals"]["unknown"] == 1


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
    assert action._plain(value, "host a") == plain


def test_plain_refuses_what_is_not_data():
    with pytest.raises(KeepaliveError, match="^host a: the host report is not plain data: object"):
        action._plain({"host": "a", "when": object()}, "host a")


GOOD = {"host": "web-1", "verdicts": [{"check": "c", "status": "pass"}]}


def hostvars_args(**args):
    return dict({"hosts": None, "play_hosts": None, "hostvars_key": "tcp_keepalive_report"}, **args)


def task_vars(**facts):
    """Play hosts with these facts; a value of ... means the host has no fact at all."""
    hostvars = {
        name: ({} if fact is ... else {"tcp_keepalive_report": fact})
        for name, fact in facts.items()
    }
    return {"ansible_play_hosts_all": list(facts), "hostvars": hostvars}


@pytest.mark.parametrize(
    "fact, reason",
    [
        (
            ...,
            "the host has no tcp_keepalive_report fact (unreachable, or it failed before the "
            "report was built)",
        ),
        (None, "the host has no tcp_keepalive_report fact"),
        ({}, "its tcp_keepalive_report fact is empty"),
        ("", "its tcp_keepalive_report fact is empty"),
        ([], "its tcp_keepalive_report fact is empty"),
    ],
)
def test_host_without_data_is_unseen(fact, reason):
    facts = task_vars(**{"web-1": GOOD, "db-1": fact})
    reports, unseen = action._host_reports(hostvars_args(), facts)
    assert reports == [GOOD]
    assert unseen["db-1"].startswith(reason)
    doc = build_report(reports, unseen=unseen, generated_at=WHEN)
    statuses = [(h["host"], h["status"]) for h in doc["hosts"]]
    assert statuses == [("db-1", "unknown"), ("web-1", "pass")]


def test_a_fact_without_host_is_about_its_own_host():
    reports, _unseen = action._host_reports(
        hostvars_args(), task_vars(**{"db-1": {"verdicts": [{"check": "c", "status": "fail"}]}})
    )
    assert reports[0]["host"] == "db-1"


@pytest.mark.parametrize(
    "facts, args, message",
    [
        (
            {"db-1": "abc"},
            {},
            "host db-1: the tcp_keepalive_report fact must be a host report "
            "(a dict), got 'abc' (str)",
        ),
        ({"db-1": [1]}, {}, "host db-1: the tcp_keepalive_report fact must be a host report"),
        (
            {"db-1": GOOD},
            {},
            "host db-1: its tcp_keepalive_report fact is about host 'web-1' "
            "(str); a host's fact must report on the host itself (host: db-1)",
        ),
        ({"db-1": {"host": "db-1", "x": object()}}, {}, "host db-1: the host report is not plain"),
        ({"db-1": GOOD}, {"play_hosts": ["nope"]}, "play_hosts: nope is not in the inventory"),
    ],
)
def test_hostvars_errors_name_the_inventory_host(facts, args, message):
    with pytest.raises(KeepaliveError) as caught:
        action._host_reports(hostvars_args(**args), task_vars(**facts))
    assert str(caught.value).startswith(message)


def test_given_reports_are_named_by_their_host_or_position():
    with pytest.raises(KeepaliveError, match="^the host report number 2 of 2 in hosts: the"):
        action._host_reports({"hosts": [GOOD, {"when": object()}]}, {})


def options(**args):
    return dict(
        {"dest": "./r", "formats": ["json"], "hostvars_key": "k", "play_hosts": None}, **args
    )


@pytest.mark.parametrize(
    "args, message",
    [
        ({"dest": ""}, "dest: expected the folder to write the report into, got ''"),
        ({"dest": "  "}, "dest: expected the folder to write the report into, got '  '"),
        ({"formats": []}, "formats: expected a non-empty list of json, markdown, html"),
        ({"formats": ["json", "pdf"]}, "formats: pdf not known; allowed: json, markdown"),
        ({"hostvars_key": ""}, "hostvars_key: expected the name of the host fact"),
        ({"play_hosts": ["a", "b", "a"]}, "play_hosts: a given more than once"),
    ],
)
def test_options_are_checked(args, message):
    with pytest.raises(KeepaliveError) as caught:
        action._check_options(options(**args))
    assert str(caught.value).startswith(message)


def test_dest_is_made_absolute():
    assert action._check_options(options(dest="rel")) == os.path.abspath("rel")

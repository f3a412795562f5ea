"""Merging slices: the report.json of several runs (or one host report per file) gives the
document of one run over all of their hosts; overlapping or unreadable slices are refused."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.netstack.keepalive.plugins.action import keepalive_report as action
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _model as model
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (
    report_fleet,
)

WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)


def one_run(hosts, unseen=None):
    # Through JSON, as report.json is written and read back.
    return json.loads(json.dumps(model.build_report(hosts, generated_at=WHEN, unseen=unseen)))


def merged(slices):
    hosts, unseen = model.merge_slices(slices)
    return json.loads(json.dumps(model.build_report(hosts, generated_at=WHEN, unseen=unseen)))


def test_slices_of_report_json_merge_into_the_one_run_document():
    hosts = report_fleet.fleet()
    unseen = {"db-9": "unreachable"}
    whole = one_run(hosts, unseen)
    slices = [
        ("slice-1/report.json", one_run(hosts[:1])),
        ("slice-2/report.json", one_run(hosts[1:3], unseen)),
        ("slice-3/report.json", one_run(hosts[3:])),
    ]
    assert merged(slices) == whole
    assert [h["host"] for h in whole["hosts"]] == sorted([h["host"] for h in hosts] + ["db-9"])


def test_host_report_files_merge_like_a_run_over_those_hosts():
    hosts = report_fleet.fleet()
    slices = [("drop/%s.json" % h["host"], json.loads(json.dumps(h))) for h in hosts]
    assert merged(slices) == one_run(hosts)


def test_a_merge_of_a_merge_is_the_same_document():
    hosts = report_fleet.fleet()
    first = merged([("a", one_run(hosts[:2])), ("b", one_run(hosts[2:]))])
    assert merged([("merged", first)]) == first


def test_a_host_report_without_verdicts_stays_unknown_through_a_merge():
    hosts = [{"host": "bare-1"}, {"host": "web-1", "verdicts": [{"check": "c", "status": "pass"}]}]
    whole = one_run(hosts, {"gone-1": "unreachable"})
    assert (
        merged([("a", one_run(hosts[:1])), ("b", one_run(hosts[1:], {"gone-1": "unreachable"}))])
        == whole
    )
    assert [h["status"] for h in whole["hosts"]] == ["unknown", "unknown", "pass"]


def test_a_host_in_two_slices_is_refused_naming_both():
    hosts = report_fleet.fleet()
    with pytest.raises(KeepaliveError) as caught:
        model.merge_slices([("a.json", one_run(hosts[:2])), ("b.json", one_run(hosts[1:]))])
    assert "host %s is in a.json and in b.json" % hosts[1]["host"] in str(caught.value)
    assert caught.value.details["option"] == "merge"


@pytest.mark.parametrize(
    "data, words",
    [
        ({"schema_version": 2, "hosts": []}, "schema_version 2 (int)"),
        ({"schema_version": 1, "hosts": "web-1"}, "with a list of hosts"),
        ([{"host": "a"}], "neither a fleet report"),
        ({"status": "pass"}, "neither a fleet report"),
    ],
)
def test_a_file_that_is_no_report_is_refused_naming_it(data, words):
    with pytest.raises(KeepaliveError) as caught:
        model.merge_slices([("x/report.json", data)])
    assert "merge: x/report.json" in str(caught.value)
    assert words in str(caught.value)


def test_the_action_reads_files_and_every_json_below_a_folder(tmp_path):
    hosts = report_fleet.fleet()
    (tmp_path / "slice.json").write_text(json.dumps(one_run(hosts[:1])))
    for item in hosts[1:]:
        folder = tmp_path / "drop" / item["host"]
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps(one_run([item])))
        (folder / "report.md").write_text("not read")
    slices = action._read_slices([str(tmp_path / "slice.json"), str(tmp_path / "drop")])
    assert [name for name, _data in slices] == [str(tmp_path / "slice.json")] + [
        str(tmp_path / "drop" / h["host"] / "report.json")
        for h in sorted(hosts[1:], key=lambda h: h["host"])
    ]
    assert merged(slices) == one_run(hosts)


def test_the_action_names_an_empty_folder_and_a_file_that_is_not_json(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeepaliveError, match="holds no .json file"):
        action._read_slices([str(tmp_path / "empty")])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(KeepaliveError, match="cannot read .*bad.json as JSON"):
        action._read_slices([str(tmp_path / "bad.json")])
    with pytest.raises(KeepaliveError, match="cannot read .*missing.json"):
        action._read_slices([str(tmp_path / "missing.json")])
    with pytest.raises(KeepaliveError, match="merge: expected"):
        action._read_slices([])

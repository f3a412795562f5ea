"""Beyond one controller: a 20-host audit run as 4 slices (``--limit``, as AWX job slicing
splits an inventory) and merged by keepalive_report equals the report of one run over the 20
hosts, host for host; the audit publishes its totals with set_stats (AWX artifacts).

The socket audit is off in these runs: it reads live sockets, among them the controller's own
ssh connections to the host, which differ from one run to the next; everything else an audit
reads (values, boot model, shadowing, verdicts) is the same in every run."""

from __future__ import annotations

import json

import pytest

LAB_HOSTS = 20
SLICES = 4
pytestmark = pytest.mark.lab
ROTATION = [
    {"tcp_keepalive_profile": "cloud", "tcp_keepalive_path": ["aws_nlb", "aws_nat_gateway"]},
    {"tcp_keepalive_profile": "database", "tcp_keepalive_path": ["azure_lb_standard"]},
    {"tcp_keepalive_profile": "cloud", "tcp_keepalive_path": ["gcp_cloud_nat"]},
    {"tcp_keepalive_profile": "latency_sensitive", "tcp_keepalive_path": [{"id": "haproxy"}]},
]
STATS_TASK = "Publish the fleet totals as job artifacts (set_stats)"


@pytest.fixture(scope="module")
def fleet(lab):
    lab.write_inventory({h.name: ROTATION[i % len(ROTATION)] for i, h in enumerate(lab.hosts)})
    return lab


def audit(ansible_playbook, report_dir, limit=None):
    run = ansible_playbook(
        "playbooks/audit.yml",
        limit=limit,
        extra_vars={
            "keepalive_report_dir": str(report_dir),
            "keepalive_audit_gate": False,
            "tcp_keepalive_adoption_enabled": False,
        },
    )
    assert run.rc == 0, str(run)
    return run


def load(report_dir):
    return json.loads((report_dir / "report.json").read_text())


def without_time(doc):
    return {key: value for key, value in doc.items() if key != "generated_at"}


def test_four_slices_merged_equal_one_run_host_for_host(fleet, ansible_playbook, tmp_path):
    lab = fleet
    names = [h.name for h in lab.hosts]
    whole_run = audit(ansible_playbook, tmp_path / "one-run")
    whole = load(tmp_path / "one-run")
    assert [h["host"] for h in whole["hosts"]] == sorted(names)
    assert whole["totals"]["hosts"] == LAB_HOSTS and whole["totals"]["unknown"] == 0
    assert all(h["runtime"] and h["verdicts"] for h in whole["hosts"]), whole["hosts"][0]

    slice_dirs = []
    for number in range(SLICES):
        members = names[number::SLICES]  # AWX slices the inventory by host position
        slice_dir = tmp_path / ("slice-%d" % number)
        audit(ansible_playbook, slice_dir, limit=members)
        assert sorted(h["host"] for h in load(slice_dir)["hosts"]) == sorted(members)
        slice_dirs.append(slice_dir)

    merged_dir = tmp_path / "merged"
    merge = ansible_playbook(
        [
            {
                "name": "Merge the slices",
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [
                    {
                        "name": "Merge",
                        "netstack.keepalive.keepalive_report": {
                            "merge": [str(d / "report.json") for d in slice_dirs],
                            "dest": str(merged_dir),
                        },
                    }
                ],
            }
        ],
        inventory="localhost,",
        extra_vars={"ansible_connection": "local"},
    )
    assert merge.rc == 0, str(merge)
    merged = load(merged_dir)
    by_host = {h["host"]: h for h in merged["hosts"]}
    for host in whole["hosts"]:
        assert by_host[host["host"]] == host, host["host"]
    assert without_time(merged) == without_time(whole)
    for name in ("report.md", "report.html", "junit.xml"):
        assert (merged_dir / name).stat().st_size > 0
    # The one run published its totals for AWX (set_stats artifacts) as the report has them.
    published = [r for r in whole_run.results if r.task == STATS_TASK]
    assert len(published) == 1, str(whole_run)  # run_once
    stats = published[0].result["ansible_stats"]
    assert stats["data"]["keepalive_audit"]["totals"] == whole["totals"], stats
    assert stats["data"]["keepalive_audit"]["status"] == whole["status"], stats

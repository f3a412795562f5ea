"""The shipped playbooks on real lab hosts: rollout (canary, batches, stop on failure) and
audit (check mode proven by hashes, exit status as a gate, the fleet report)."""

from __future__ import annotations

import hashlib
import json

import pytest
from _hostproof import unchanged

LAB_HOSTS = 4
pytestmark = pytest.mark.lab
KEYS = ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")
OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
CLOUD = (180, 20, 3)
DEFAULTS = (7200, 75, 9)
SET_TASK = "Set net.ipv4.tcp_keepalive_time/_intvl/_probes and write our sysctl.d file"
VERIFY_TASK = "Verify the host converged (a second pass in check mode must find nothing to change)"
ROLLOUT_TASKS = {"Apply, persist and judge the host", SET_TASK, VERIFY_TASK}
PATHS = {
    1: ["aws_nlb", "aws_nat_gateway"],
    2: ["azure_lb_standard"],
    3: ["gcp_cloud_nat"],
    4: [{"id": "haproxy"}, {"name": "corp-fw", "idle_timeout": 900, "layer": 4}],
}


def name(lab, index):
    return lab.hosts[index - 1].name


def runtime(lab, host):
    done = lab.run(host, "cd /proc/sys/net/ipv4 && cat %s" % " ".join(KEYS), check=True)
    return tuple(int(v) for v in done.stdout.split())


def host_hash(lab, host):
    """What an audit must not change: /etc/sysctl.d, /etc/sysctl.conf and the sysctls."""
    state = lab.run(
        host,
        "ls -la --time-style=full-iso /etc/sysctl.d; cat /etc/sysctl.d/* /etc/sysctl.conf "
        "2>/dev/null; cat /proc/sys/net/ipv4/tcp_keepalive_*",
        check=True,
    ).stdout
    return hashlib.sha256(state.encode()).hexdigest()


def fleet_hash(lab):
    return {h.name: host_hash(lab, h.name) for h in lab.hosts}


@pytest.fixture(scope="module")
def fleet(lab):
    lab.write_inventory({name(lab, i): {"tcp_keepalive_path": p} for i, p in PATHS.items()})
    for host in lab.hosts:  # fresh hosts for this module
        lab.run(host.name, ["rm", "-f", OURS], check=True)
    return lab


def test_rollout_check_is_a_green_dry_run_that_changes_nothing(fleet, ansible_playbook, tmp_path):
    lab = fleet
    hosts = [h.name for h in lab.hosts]
    with unchanged(lab, hosts):
        run = ansible_playbook(
            "playbooks/rollout.yml",
            check=True,
            diff=True,
            extra_vars={"keepalive_report_dir": str(tmp_path / "report")},
        )
    assert run.rc == 0, str(run)
    for host in hosts:
        # Every host was planned, its change previewed, and the verify pass ran as a dry run.
        assert run.task(SET_TASK, host).changed, str(run)
        assert not run.task(VERIFY_TASK, host).failed
        said = run.task("Say what a real run would change (dry run, nothing was verified)", host)
        assert "180" in said.msg and "7200" in said.msg, said.msg
    assert "+net.ipv4.tcp_keepalive_time = 180" in run.stdout, run.stdout  # --diff
    assert not [r for r in run.results if r.failed], str(run)


def test_preflight_stops_the_rollout_before_any_host_changes(fleet, ansible_playbook, tmp_path):
    lab = fleet
    before = fleet_hash(lab)
    # Host 4's profile cannot be met: detect_within 20 s but a 30 s outage tolerated.
    run = ansible_playbook(
        "playbooks/rollout.yml",
        extra_vars={
            "tcp_keepalive_profiles": {"tight": {"detect_within": 20}},
            "tcp_keepalive_profile": "tight",
        },
    )
    assert run.rc != 0, str(run)
    assert "short by 11 s" in run.stdout, str(run)
    assert fleet_hash(lab) == before
    # Every host was checked and refused in the preflight; none reached a batch.
    assert {r.host for r in run.results if r.failed} == {h.name for h in lab.hosts}, str(run)
    assert not [r for r in run.results if r.task in ROLLOUT_TASKS], str(run)


def test_rollout_stops_at_the_first_failed_verification(fleet, ansible_playbook):
    lab = fleet
    # Host 3 has a file that overrides ours at boot: its verification must fail.
    lab.run(
        name(lab, 3),
        "printf 'net.ipv4.tcp_keepalive_time = 7200\\n' > /etc/sysctl.conf",
        check=True,
    )
    untouched = host_hash(lab, name(lab, 4))
    run = ansible_playbook(
        "playbooks/rollout.yml", extra_vars={"keepalive_rollout_serial": [1, 1, 1, 1]}
    )
    assert run.rc != 0, str(run)
    failed = [r for r in run.results if r.failed]
    assert {r.host for r in failed} == {name(lab, 3)}, str(run)
    assert "/etc/sysctl.conf" in str(failed[0].msg), str(run)
    assert runtime(lab, name(lab, 1)) == CLOUD
    assert runtime(lab, name(lab, 2)) == CLOUD
    assert runtime(lab, name(lab, 3)) == DEFAULTS  # refused before any change
    assert host_hash(lab, name(lab, 4)) == untouched  # never reached
    # Host 4 passed the preflight (a plan, no change) but no batch ever reached it.
    assert not {r.task for r in run.results if r.host == name(lab, 4)} & ROLLOUT_TASKS, str(run)
    assert not run.task(VERIFY_TASK, name(lab, 1)).failed  # rolled and verified
    assert runtime(lab, name(lab, 4)) == DEFAULTS


def test_audit_changes_nothing_gates_on_failures_and_writes_the_report(
    fleet, ansible_playbook, tmp_path
):
    lab = fleet
    before = fleet_hash(lab)
    report_dir = tmp_path / "report"
    run = ansible_playbook(
        "playbooks/audit.yml", extra_vars={"keepalive_report_dir": str(report_dir)}
    )
    assert fleet_hash(lab) == before, "an audit changed a host"
    assert run.rc == 2, str(run)  # hosts 3 and 4 were never tuned: failing verdicts
    report = json.loads((report_dir / "report.json").read_text())
    status = {h["host"]: h["status"] for h in report["hosts"]}
    assert status[name(lab, 3)] == "fail" and status[name(lab, 4)] == "fail", status
    assert status[name(lab, 1)] != "fail" and status[name(lab, 2)] != "fail", status
    for extension in ("md", "html"):
        assert (report_dir / ("report." + extension)).stat().st_size > 0
    assert (report_dir / "junit.xml").exists()

    ungated = ansible_playbook(
        "playbooks/audit.yml",
        extra_vars={"keepalive_report_dir": str(report_dir), "keepalive_audit_gate": False},
    )
    assert ungated.rc == 0, str(ungated)
    assert fleet_hash(lab) == before


def test_rollout_verifies_with_the_variables_it_applied(fleet, ansible_playbook, tmp_path):
    """Non-default variables: the verify pass must use them too, or it fails a good host."""
    lab = fleet
    variables = {i: {"tcp_keepalive_path": p} for i, p in PATHS.items()}
    variables[1]["tcp_keepalive_persist_enabled"] = False
    variables[2]["tcp_keepalive_sysctl_file_mode"] = "0640"
    variables[3]["tcp_keepalive_on_shadowed"] = "warn"  # /etc/sysctl.conf overrides ours
    assert "tcp_keepalive_time" in lab.run(name(lab, 3), "cat /etc/sysctl.conf").stdout
    lab.run(name(lab, 1), ["rm", "-f", OURS], check=True)
    lab.write_inventory({name(lab, i): v for i, v in variables.items()})
    report = {"keepalive_report_dir": str(tmp_path)}
    try:
        run = ansible_playbook("playbooks/rollout.yml", extra_vars=report)
        assert run.rc == 0, str(run)
        for host in lab.hosts:
            assert runtime(lab, host.name) == CLOUD
            assert not run.task(VERIFY_TASK, host.name).failed
        assert lab.run(name(lab, 1), ["test", "-e", OURS]).returncode != 0  # persist off
        mode = lab.run(name(lab, 2), ["stat", "-c", "%a", OURS], check=True).stdout.strip()
        assert mode == "640"
        with unchanged(lab, [h.name for h in lab.hosts]):
            again = ansible_playbook("playbooks/rollout.yml", extra_vars=report)
        assert again.rc == 0, str(again)
    finally:
        lab.write_inventory({name(lab, i): {"tcp_keepalive_path": p} for i, p in PATHS.items()})

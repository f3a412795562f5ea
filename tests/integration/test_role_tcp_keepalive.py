"""The role tcp_keepalive on real lab hosts: profiles, paths, enforce, audit, check mode.

Two hosts with different profiles and paths must converge to different values; a profile
that its path makes impossible must fail in enforce mode before anything changes and be
reported in audit mode; check mode and audit mode must change nothing at all.
"""

from __future__ import annotations

import hashlib

import pytest

LAB_HOSTS = 3
pytestmark = pytest.mark.lab
OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
KEYS = ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")
HOST_VARS = {
    # AWS NLB + NAT gateway (350 s): the cloud profile gives 180/20/3.
    1: {"tcp_keepalive_profile": "cloud", "tcp_keepalive_path": ["aws_nlb", "aws_nat_gateway"]},
    # A database behind Azure's Standard LB raised to 600 s, dead peer within 60 s: 30/10/3.
    2: {
        "tcp_keepalive_profile": "pg",
        "tcp_keepalive_profiles": {"pg": {"base": "database", "detect_within": 60}},
        "tcp_keepalive_path": [{"id": "azure_lb_standard", "idle_timeout": 600}],
    },
    # Explicit 7200 s behind Azure's NAT gateway (240 s): the profile conflicts with its path.
    3: {
        "tcp_keepalive_profile": "legacy",
        "tcp_keepalive_profiles": {"legacy": {"time": 7200, "intvl": 75, "probes": 9}},
        "tcp_keepalive_path": ["azure_nat_gateway"],
    },
}
EXPECTED = {1: (180, 20, 3), 2: (30, 10, 3)}


def role_play(hosts, **role_vars):
    return [
        {
            "name": "tcp_keepalive role",
            "hosts": hosts,
            "gather_facts": False,
            "roles": [dict({"role": "netstack.keepalive.tcp_keepalive"}, **role_vars)],
        }
    ]


def name(lab, index):
    return lab.hosts[index - 1].name


def runtime(lab, host):
    done = lab.run(host, "cd /proc/sys/net/ipv4 && cat %s" % " ".join(KEYS), check=True)
    return tuple(int(v) for v in done.stdout.split())


def fingerprint(lab, host):
    """Runtime values plus a hash of every sysctl file the host reads at boot."""
    files = lab.run(
        host,
        "cat /etc/sysctl.conf /etc/sysctl.d/* /run/sysctl.d/* 2>/dev/null; ls -la /etc/sysctl.d",
        check=True,
    ).stdout
    return runtime(lab, host), hashlib.sha256(files.encode()).hexdigest()


@pytest.fixture(scope="module")
def fleet(lab):
    lab.write_inventory({name(lab, i): v for i, v in HOST_VARS.items()})
    return lab


def test_check_mode_changes_nothing_then_converge_is_idempotent(fleet, ansible_playbook):
    lab = fleet
    hosts = "%s:%s" % (name(lab, 1), name(lab, 2))
    before = {h.name: fingerprint(lab, h.name) for h in lab.hosts}

    checked = ansible_playbook(role_play(hosts), check=True)
    assert checked.rc == 0, str(checked)
    assert {h.name: fingerprint(lab, h.name) for h in lab.hosts} == before
    set_task = "Set net.ipv4.tcp_keepalive_time/_intvl/_probes and write our sysctl.d file"
    assert checked.task(set_task, name(lab, 1)).changed  # it would change

    converged = ansible_playbook(role_play(hosts))
    assert converged.rc == 0, str(converged)
    for index, values in EXPECTED.items():
        assert runtime(lab, name(lab, index)) == values
        content = lab.run(name(lab, index), ["cat", OURS], check=True).stdout
        assert "net.ipv4.tcp_keepalive_time = %d" % values[0] in content
    assert runtime(lab, name(lab, 3)) == (7200, 75, 9)  # not in the play

    again = ansible_playbook(role_play(hosts))
    assert again.rc == 0, str(again)
    assert not [r for r in again.results if r.changed], str(again)


def test_report_fact_tells_values_boot_values_and_verdicts(fleet, ansible_playbook):
    lab = fleet
    play = role_play(name(lab, 1))
    play[0]["tasks"] = [{"ansible.builtin.debug": {"var": "tcp_keepalive_report"}}]
    run = ansible_playbook(play)
    assert run.rc == 0, str(run)
    report = run.task("ansible.builtin.debug", name(lab, 1))["tcp_keepalive_report"]
    assert report["intended"] == {"time": 180, "intvl": 20, "probes": 3}
    assert report["after"] == report["intended"]
    assert report["boot_values"]["time"]["value"] == 180
    assert report["boot_values"]["time"]["source"].startswith(OURS + ":")
    assert report["status"] in ("pass", "warn"), report["problems"]
    idle = [v for v in report["verdicts"] if v["check"] == "middlebox_idle"]
    assert {v["subject"] for v in idle} == {"aws_nlb", "aws_nat_gateway"}
    assert all(v["status"] == "pass" for v in idle)


def test_conflicting_profile_fails_in_enforce_before_any_change(fleet, ansible_playbook):
    lab = fleet
    host = name(lab, 3)
    before = fingerprint(lab, host)
    run = ansible_playbook(role_play(host))
    assert run.rc != 0, str(run)
    failed = [r for r in run.results if r.failed]
    assert failed and failed[0].task.startswith("Stop before changing anything"), str(run)
    assert "azure_nat_gateway" in failed[0].msg and "240 s" in failed[0].msg
    assert fingerprint(lab, host) == before


def test_conflicting_profile_is_reported_in_audit_mode(fleet, ansible_playbook):
    lab = fleet
    host = name(lab, 3)
    before = fingerprint(lab, host)
    play = role_play(host, tcp_keepalive_mode="audit")
    play[0]["tasks"] = [{"ansible.builtin.debug": {"var": "tcp_keepalive_report"}}]
    run = ansible_playbook(play)
    assert run.rc == 0, str(run)
    report = run.task("ansible.builtin.debug", host)["tcp_keepalive_report"]
    assert report["status"] == "fail"
    assert report["derivation_error"] and "240 s" in report["derivation_error"]
    assert report["runtime"] == {"time": 7200, "intvl": 75, "probes": 9}
    assert fingerprint(lab, host) == before


def test_audit_mode_changes_nothing_even_without_check(fleet, ansible_playbook):
    lab = fleet
    host = name(lab, 1)
    lab.run(host, "echo 7200 > /proc/sys/net/ipv4/tcp_keepalive_time", check=True)
    before = fingerprint(lab, host)
    play = role_play(host, tcp_keepalive_mode="audit")
    play[0]["tasks"] = [{"ansible.builtin.debug": {"var": "tcp_keepalive_report"}}]
    run = ansible_playbook(play)
    assert run.rc == 0, str(run)
    assert fingerprint(lab, host) == before
    report = run.task("ansible.builtin.debug", host)["tcp_keepalive_report"]
    assert report["runtime"]["time"] == 7200
    failing = {v["subject"] for v in report["verdicts"] if v["status"] == "fail"}
    assert {"aws_nlb", "aws_nat_gateway"} <= failing


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"tcp_keepalive_mode": "enforcee"}, "tcp_keepalive_mode"),
        ({"tcp_keepalive_on_shadowed": "explode"}, "tcp_keepalive_on_shadowed"),
        ({"tcp_keepalive_fail_on": "sometimes"}, "tcp_keepalive_fail_on"),
        (
            {"tcp_keepalive_path": [{"id": "aws_nlb", "idle_timeout": 30}]},
            "idle_timeout=30 is out of range: allowed 60..6000 s",
        ),
        ({"tcp_keepalive_path": ["aws_nlbb"]}, "did you mean: aws_nlb"),
        ({"tcp_keepalive_profile": "no_such_profile"}, "no_such_profile"),
    ],
)
def test_role_argument_spec_rejects_bad_variables(fleet, ansible_playbook, variables, message):
    lab = fleet
    host = name(lab, 2)
    before = fingerprint(lab, host)
    run = ansible_playbook(role_play(host, **variables))
    assert run.rc != 0, str(run)
    failed = [r for r in run.results if r.failed]
    assert failed and message in failed[0].msg, str(run)
    assert fingerprint(lab, host) == before


def report_of(ansible_playbook, host, **role_vars):
    play = role_play(host, **role_vars)
    play[0]["tasks"] = [{"ansible.builtin.debug": {"var": "tcp_keepalive_report"}}]
    run = ansible_playbook(play)
    results = [r for r in run.results if r.task == "ansible.builtin.debug" and r.host == host]
    return run, results[-1]["tcp_keepalive_report"] if results else None


def test_inline_profile_is_planned_applied_reported_and_audited(fleet, ansible_playbook):
    lab = fleet
    host = name(lab, 3)
    inline = {"detect_within": 40, "tolerate_outage": 6, "margin": 4, "detect_busy_within": 60}
    # Behind an AWS NLB (350 s): a 6 s window (3 x 2 s), time = 40 - 6 = 34. Busy: the
    # smallest tcp_retries2 a 6 s blip cannot beat (4: not before 6.4 s) notices in 12.6 s.
    run, report = report_of(
        ansible_playbook, host, tcp_keepalive_profile=inline, tcp_keepalive_path=["aws_nlb"]
    )
    assert run.rc == 0, str(run)
    assert runtime(lab, host) == (34, 2, 3)
    retries2 = lab.run(host, ["cat", "/proc/sys/net/ipv4/tcp_retries2"], check=True).stdout
    assert int(retries2) == 4
    assert "net.ipv4.tcp_retries2 = 4" in lab.run(host, ["cat", OURS], check=True).stdout
    assert report["profile"] == "inline" and report["status"] == "pass", report["problems"]
    assert report["intended"]["retries2"] == 4 and report["retries2"] == 4
    detection = [v for v in report["verdicts"] if v["check"] == "detection_time"]
    assert detection and detection[0]["limit"] == 40 and detection[0]["status"] == "pass"
    # the host's own figure (subject "peer"); socket groups crossing the path get their own
    busy = [
        v for v in report["verdicts"] if v["check"] == "busy_detection" and v["subject"] == "peer"
    ]
    assert [(v["status"], v["value"], v["limit"]) for v in busy] == [("pass", 12.6, 60)]
    assert report["detection_busy_seconds"] == 12.6

    before = fingerprint(lab, host)
    run, audit = report_of(
        ansible_playbook,
        host,
        tcp_keepalive_profile=inline,
        tcp_keepalive_path=["aws_nlb"],
        tcp_keepalive_mode="audit",
    )
    assert run.rc == 0, str(run)
    assert fingerprint(lab, host) == before
    assert audit["runtime"] == {"time": 34, "intvl": 2, "probes": 3}
    assert audit["retries2"] == 4  # read in check mode, because the profile asks for it
    assert audit["status"] == "pass", audit["problems"]


def test_a_bare_required_name_checks_established_connections_only(fleet, ansible_playbook):
    lab = fleet
    host = name(lab, 1)
    # sshd sets SO_KEEPALIVE on each accepted connection (Ansible's own), never on its listener.
    run, report = report_of(ansible_playbook, host, tcp_keepalive_require=["sshd"])
    assert run.rc == 0, str(run)
    required = {
        v["subject"]: v["status"] for v in report["verdicts"] if v["check"] == "keepalive_required"
    }
    assert required == {"sshd (established)": "pass"}, report["verdicts"]

    listener = [{"name": "sshd", "states": ["listen"]}]
    run, report = report_of(ansible_playbook, host, tcp_keepalive_require=listener)
    assert run.rc != 0, str(run)
    failed = [r for r in run.results if r.failed]
    assert failed[-1].task == "Fail the host on a failing verdict (enforce mode)", str(run)
    assert "listen sockets of sshd have SO_KEEPALIVE off" in failed[-1].msg

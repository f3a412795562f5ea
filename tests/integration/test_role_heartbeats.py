"""The role with declared heartbeats on a lab host: Ansible's own SSH connection to the host's
sshd crosses the path (the controller reaches the host over a bridge, not loopback), so its
socket group is judged by the heartbeat declared for sshd, against every box on the path."""

from __future__ import annotations

import pytest

LAB_HOSTS = 1
pytestmark = pytest.mark.lab
PATH = ["azure_lb_standard", "aws_alb"]  # 240 s layer 4, 60 s proxy


def play(host, **role_vars):
    role = dict({"role": "netstack.keepalive.tcp_keepalive"}, **role_vars)
    tasks = [{"ansible.builtin.debug": {"var": "tcp_keepalive_report"}}]
    return [{"name": "heartbeats", "hosts": host, "gather_facts": False, "roles": [role],
             "tasks": tasks}]  # fmt: skip


def sshd_idle(report):
    return {
        v["subject"].rsplit(" via ", 1)[1]: v
        for v in report["verdicts"]
        if v["check"] == "socket_idle" and " sshd [" in v["subject"]
    }


@pytest.fixture(scope="module")
def host(lab):
    lab.write_inventory({lab.hosts[0].name: {"tcp_keepalive_profile": "cloud"}})
    return lab.hosts[0].name


def report_of(run, host):
    found = [r for r in run.results if r.task == "ansible.builtin.debug" and r.host == host]
    return found[-1]["tcp_keepalive_report"] if found else None


def test_a_heartbeat_within_the_proxy_timeout_keeps_sshd_open(host, ansible_playbook):
    run = ansible_playbook(
        play(
            host,
            tcp_keepalive_path=PATH,
            tcp_keepalive_require=["sshd"],
            tcp_keepalive_heartbeats=[{"name": "sshd", "heartbeat": 15}],
        )
    )
    assert run.rc == 0, str(run)
    report = report_of(run, host)
    boxes = sshd_idle(report)
    assert {box: v["status"] for box, v in boxes.items()} == {
        "azure_lb_standard": "pass",
        "aws_alb": "pass",
    }, report["verdicts"]
    assert "kept open by sshd's heartbeat every 15 s (declared)" in boxes["aws_alb"]["message"]
    required = [v for v in report["verdicts"] if v["check"] == "keepalive_required"]
    assert [v["status"] for v in required] == ["pass"]


def test_a_slow_heartbeat_fails_the_host_naming_the_proxy_and_the_fix(host, ansible_playbook):
    run = ansible_playbook(
        play(
            host,
            tcp_keepalive_path=PATH,
            tcp_keepalive_require=[{"name": "sshd", "heartbeat": 300}],
        )
    )
    assert run.rc != 0, str(run)
    failed = [r for r in run.results if r.failed]
    assert failed[-1].task == "Fail the host on a failing verdict (enforce mode)", str(run)
    message = failed[-1].msg
    assert "AWS Application Load Balancer (aws_alb) drops an idle connection after 60 s" in message
    assert "sshd's heartbeat every 300 s (declared): send it every 20 s (at most 30 s)" in message
    assert "how to fix: 20 s (sshd: the service's own heartbeat setting)" in message
    # The 240 s load balancer is kept open by sshd's own keepalive probes (cloud: 180 s).
    assert "(azure_lb_standard) drops an idle connection after 240 s, but" not in message


def test_a_bad_heartbeat_is_refused_before_any_change(host, ansible_playbook):
    run = ansible_playbook(
        play(host, tcp_keepalive_heartbeats=[{"name": "sshd", "heartbeat": "1m"}])
    )
    assert run.rc != 0, str(run)
    failed = [r for r in run.results if r.failed]
    assert (
        "tcp_keepalive_heartbeats[1]={'name': 'sshd', 'heartbeat': '1m'}: heartbeat='1m' (str)"
        in failed[0].msg
    ), str(run)

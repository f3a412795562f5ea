"""The lab of namespace hosts is a fleet of real, separate machines for Ansible.

Three hosts, reached over SSH by Ansible: each has its own keepalive sysctls, a private disk
that survives a reboot, a boot that applies /etc/sysctl.d, and the lab leaves nothing behind
on ``down`` or on an interrupted ``up``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lab as lab_module

pytestmark = pytest.mark.lab

LAB_HOSTS = 3
KEEPALIVE_TIME = "/proc/sys/net/ipv4/tcp_keepalive_time"
LAB_CLI = Path(lab_module.__file__)


def machine_keepalive_time():
    return int(Path(KEEPALIVE_TIME).read_text())


def kernel_default_keepalive_time():
    """What a brand-new network namespace starts with (measured, not assumed)."""
    out = subprocess.run(
        ["unshare", "--net", "cat", KEEPALIVE_TIME], capture_output=True, text=True, check=True
    ).stdout
    return int(out)


def names(lab):
    return [host.name for host in lab.hosts]


def test_every_host_answers_ansible_over_ssh(lab, ansible_module):
    run = ansible_module("ansible.builtin.ping")

    assert run.rc == 0, run
    assert {h: r["ping"] for h, r in run.by_host.items()} == dict.fromkeys(names(lab), "pong")


def test_hosts_are_separate_machines(lab, ansible_module):
    run = ansible_module("ansible.builtin.setup", {"gather_subset": ["!all", "network"]})
    assert run.rc == 0, run
    facts = {h: r["ansible_facts"] for h, r in run.by_host.items()}

    for host in lab.hosts:
        assert facts[host.name]["ansible_hostname"] == host.name
        assert facts[host.name]["ansible_default_ipv4"]["address"] == host.address
        inside = lab.run(
            host.name,
            "test -e /.dockerenv; echo $?; "
            "echo 1 > /proc/sys/kernel/pid_max 2>&1 || echo kernel-ro",
        )
        assert inside.stdout.split() == ["1", "kernel-ro"], inside
    inodes = {lab.run(n, "stat -L -c %i /proc/self/ns/net").stdout for n in names(lab)}
    assert len(inodes) == LAB_HOSTS
    assert str(os.stat("/proc/self/ns/net").st_ino) + "\n" not in inodes


def test_keepalive_time_set_on_one_host_stays_on_that_host(lab, ansible_playbook):
    first, *others = names(lab)
    default = kernel_default_keepalive_time()
    machine_before = machine_keepalive_time()
    read = {"ansible.builtin.command": "cat %s" % KEEPALIVE_TIME, "changed_when": False}
    run = ansible_playbook(
        [
            {
                "hosts": "lab",
                "gather_facts": False,
                "tasks": [
                    {"name": "Read before", **read},
                    {
                        "name": "Set on one host only",
                        "ansible.builtin.shell": "echo 600 > %s" % KEEPALIVE_TIME,
                        "when": "inventory_hostname == %r" % first,
                    },
                    {"name": "Read after", **read},
                ],
            }
        ]
    )
    assert run.rc == 0, run

    def values(task):
        return {h: int(run.task(task, h)["stdout"]) for h in names(lab)}

    assert values("Read before") == dict.fromkeys(names(lab), default)
    assert run.task("Set on one host only", first).changed
    assert all(run.task("Set on one host only", h).status == "skipped" for h in others)
    assert values("Read after") == {first: 600, **dict.fromkeys(others, default)}
    assert machine_keepalive_time() == machine_before


def test_reboot_without_sysctl_file_returns_to_kernel_default(lab):
    host = names(lab)[0]
    lab.run(host, "echo 600 > %s" % KEEPALIVE_TIME, check=True)

    lab.reboot(host)

    value = lab.run(host, ["cat", KEEPALIVE_TIME], check=True).stdout
    assert int(value) == kernel_default_keepalive_time()


def test_reboot_keeps_the_disk_and_applies_sysctl_d(lab, ansible_playbook):
    target, *others = names(lab)[1:] + names(lab)[:1]
    conf = "/etc/sysctl.d/60-netstack-lab-test.conf"
    machine_before = machine_keepalive_time()
    run = ansible_playbook(
        [
            {
                "hosts": target,
                "gather_facts": False,
                "tasks": [
                    {
                        "name": "Write a boot-time keepalive setting",
                        "ansible.builtin.copy": {
                            "dest": conf,
                            "content": "net.ipv4.tcp_keepalive_time = 1234\n",
                            "mode": "0644",
                        },
                    }
                ],
            }
        ]
    )
    assert run.rc == 0, run
    assert run.task("Write a boot-time keepalive setting", target).changed

    lab.reboot(target)

    assert int(lab.run(target, ["cat", KEEPALIVE_TIME], check=True).stdout) == 1234
    assert lab.run(target, ["cat", conf], check=True).stdout.startswith("net.ipv4")
    for other in others:
        assert lab.run(other, ["test", "-e", conf]).returncode == 1  # disks are private
    assert not Path(conf).exists()
    assert machine_keepalive_time() == machine_before


# ---------------------------------------------------------------------------------------------
# The command line: down and interrupted up leave nothing behind


def cli(params, *args):
    options = [
        "--prefix",
        params["prefix"],
        "--bridge",
        params["bridge"],
        "--subnet",
        params["subnet"],
        "--state-dir",
        params["state_dir"],
    ]
    return [sys.executable, str(LAB_CLI), *options, *args]


def test_cli_up_status_down_leaves_nothing(unique_lab_params):
    params = unique_lab_params()
    the_lab = lab_module.Lab(**params)
    try:
        up = subprocess.run(
            cli(params, "up", "2"), capture_output=True, text=True, timeout=60, check=False
        )
        assert up.returncode == 0, up.stderr
        status = subprocess.run(cli(params, "status"), capture_output=True, text=True, check=False)
        assert status.stdout.count("ssh=True") == 2, status.stdout
        ssh = subprocess.run(
            cli(params, "ssh", params["prefix"] + "-h2", "hostname"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ssh.stdout.strip() == params["prefix"] + "-h2", ssh.stderr
        assert the_lab.leftovers()  # sanity: the check below can see a running lab

        down = subprocess.run(
            cli(params, "down"), capture_output=True, text=True, timeout=60, check=False
        )

        assert down.returncode == 0, down.stderr
        assert the_lab.leftovers() == {}
        assert not Path(params["state_dir"]).exists()
    finally:
        the_lab.down()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_interrupted_up_leaves_nothing(unique_lab_params, sig):
    params = unique_lab_params()
    the_lab = lab_module.Lab(**params)
    first_netns = Path("/run/netns") / (params["prefix"] + "-h1")
    try:
        proc = subprocess.Popen(
            cli(params, "up", "8"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while not first_netns.exists():  # interrupt once hosts are being made
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "up never created a host"
            time.sleep(0.005)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)

        assert proc.returncode == 130, err
        assert "interrupted" in err
        assert the_lab.leftovers() == {}
    finally:
        the_lab.down()

"""Verifier checks only a real systemd host can answer: systemd-sysctl applied our file at boot.

The shared checks (values, file, shadowing, reboot, machine untouched) come from
molecule/default/tests/test_default.py (verifier.additional_files_or_dirs in molecule.yml).
The test image runs systemd-sysctl with SYSTEMD_LOG_LEVEL=debug (image/build-image.sh), so
the journal of this boot lists every file it parsed and every value it set.
"""

from __future__ import annotations

import os

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

KEYS = ("time", "intvl", "probes")
DEFAULT_FILE = "/etc/sysctl.d/90-netstack-keepalive.conf"


@pytest.fixture
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture
def our_file(hostvars):
    return hostvars.get("tcp_keepalive_sysctl_file", DEFAULT_FILE)


@pytest.fixture
def sysctl_journal(host):
    """What systemd-sysctl logged during this boot."""
    return host.check_output("journalctl --boot --no-pager -o cat -t systemd-sysctl")


def test_pid1_is_systemd(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_systemd_sysctl_ran_successfully_this_boot(host):
    show = host.check_output("systemctl show systemd-sysctl.service -p ActiveState -p Result")
    assert dict(line.split("=", 1) for line in show.splitlines()) == {
        "ActiveState": "active",
        "Result": "success",
    }


def test_systemd_sysctl_parsed_our_file(sysctl_journal, our_file):
    assert f"Parsing {our_file}" in sysctl_journal.splitlines(), sysctl_journal


def test_systemd_sysctl_set_our_values(sysctl_journal, hostvars):
    expected = hostvars["molecule_expected_keepalive"]
    for key in KEYS:
        line = f"Setting '/proc/sys/net/ipv4/tcp_keepalive_{key}' to '{expected[key]}'"
        assert line in sysctl_journal.splitlines(), sysctl_journal


def test_systemd_sees_our_file_in_its_own_config_view(host, our_file):
    view = host.check_output("systemd-analyze cat-config sysctl.d")
    assert f"# {our_file}" in view.splitlines()

"""Verifier (testinfra) for the molecule scenarios; molecule/vm runs this file too.

Runs after side_effect rebooted every host, so each check is about what survived a reboot.
Each host states what it expects in host_vars (``molecule_expected_keepalive``): the verifier
never recomputes policy, it only compares the machine with that statement.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import machine_sysctls  # noqa: E402

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

KEYS = ("time", "intvl", "probes")
SYSCTL_KEYS = {f"net.ipv4.tcp_keepalive_{k}" for k in KEYS}
KERNEL_DEFAULTS = {"time": 7200, "intvl": 75, "probes": 9}
DEFAULT_FILE = "/etc/sysctl.d/90-netstack-keepalive.conf"
REBOOT_MARK = "/run/netstack-molecule-before-reboot"
# sysctl.d directories in precedence order (systemd-sysctl and procps `sysctl --system`):
# a file name in an earlier directory hides the same name in a later one.
SYSCTL_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
ASSIGNMENT = re.compile(r"^\s*-?\s*([\w./-]+)\s*=\s*(.*?)\s*$")


@pytest.fixture
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture
def expected(hostvars):
    return {k: int(hostvars["molecule_expected_keepalive"][k]) for k in KEYS}


@pytest.fixture
def our_file(hostvars):
    return hostvars.get("tcp_keepalive_sysctl_file", DEFAULT_FILE)


def parse_sysctl_file(text: str) -> dict[str, str]:
    """key -> value of a sysctl.d file (``a/b`` and ``a.b`` spellings both mean ``a.b``)."""
    values = {}
    for line in text.splitlines():
        if line.lstrip().startswith(("#", ";")):
            continue
        match = ASSIGNMENT.match(line)
        if match:
            values[match.group(1).replace("/", ".")] = match.group(2)
    return values


def boot_order(host) -> list[str]:
    """The sysctl.d files applied at boot, in the order they are applied."""
    listing = host.check_output(
        'for d in %s; do for f in "$d"/*.conf; do [ -e "$f" ] && '
        'echo "$f $(readlink -f "$f")"; done; done; true' % " ".join(SYSCTL_DIRS)
    )
    chosen = {}
    for line in listing.splitlines():
        path, target = line.split(" ", 1)
        name = path.rsplit("/", 1)[1]
        chosen.setdefault(name, (path, target))
    order = [path for name, (path, target) in sorted(chosen.items()) if target != "/dev/null"]
    if host.file("/etc/sysctl.conf").exists:
        order.append("/etc/sysctl.conf")  # procps reads it last; Debian links 99-sysctl.conf
    return order


def test_the_host_really_rebooted(host):
    assert not host.file(REBOOT_MARK).exists, (
        f"{REBOOT_MARK} is still there: side_effect did not reboot this host, so nothing below "
        "proves persistence"
    )


def test_expectations_differ_from_kernel_defaults(expected):
    same = [k for k in KEYS if expected[k] == KERNEL_DEFAULTS[k]]
    assert not same, f"{same} equal the kernel defaults: a lost value would go unnoticed"


def test_runtime_values_are_the_intended_ones(host, expected):
    runtime = {
        k: int(host.file(f"/proc/sys/net/ipv4/tcp_keepalive_{k}").content_string) for k in KEYS
    }
    assert runtime == expected


def test_our_file_has_mode_0644_and_exactly_our_keys(host, expected, our_file):
    sysctl_file = host.file(our_file)
    assert sysctl_file.is_file, f"{our_file} is missing"
    assert sysctl_file.user == "root"
    assert sysctl_file.mode == 0o644, oct(sysctl_file.mode)
    values = parse_sysctl_file(sysctl_file.content_string)
    assert values == {f"net.ipv4.tcp_keepalive_{k}": str(expected[k]) for k in KEYS}


def test_no_file_applied_at_boot_shadows_ours(host, our_file):
    order = boot_order(host)
    assert our_file in order, f"{our_file} is not applied at boot (hidden or masked): {order}"
    last_setter = {}
    for path in order:
        for key in parse_sysctl_file(host.file(path).content_string).keys() & SYSCTL_KEYS:
            last_setter[key] = path
    assert last_setter == dict.fromkeys(SYSCTL_KEYS, our_file)


def test_the_machines_own_sysctls_are_untouched():
    snapshot = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "machine-sysctls.json"
    assert snapshot.is_file(), f"create.yml did not record {snapshot}"
    changed = machine_sysctls.differences(
        machine_sysctls.json.loads(snapshot.read_text()), machine_sysctls.snapshot()
    )
    assert not changed, f"the real machine's sysctls changed: {changed}"

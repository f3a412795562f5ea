"""Verifier checks only a real systemd host can answer, on each Debian release: systemd-sysctl
applied our file at boot, the booted values are the boot model's prediction for prepare.yml's
tricky tree, the adoption audit reads the release's own sshd and redis, and the audit playbook
in check mode changes nothing.

The shared checks (values, file, shadowing, reboot, machine untouched) come from
molecule/default/tests/test_default.py (verifier.additional_files_or_dirs in molecule.yml).
The test image runs systemd-sysctl with SYSTEMD_LOG_LEVEL=debug (image/build-image.sh), so
the journal of this boot lists every file it parsed and every value it set.
"""

from __future__ import annotations

import json
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
    lines = sysctl_journal.splitlines()
    for key in KEYS:
        # systemd 252 and later name the /proc/sys path; 247 (bullseye) the key, with a period.
        said = {
            f"Setting '/proc/sys/net/ipv4/tcp_keepalive_{key}' to '{expected[key]}'",
            f"Setting 'net/ipv4/tcp_keepalive_{key}' to '{expected[key]}'.",
        }
        assert said & set(lines), sysctl_journal


def test_systemd_sees_our_file_in_its_own_config_view(host, our_file):
    view = host.check_output("systemd-analyze cat-config sysctl.d")
    assert f"# {our_file}" in view.splitlines()


# --- the boot model's prediction, made before the reboot (side_effect.yml) ---------------------

RESULTS = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
SYSCTL_CONF = "/etc/sysctl.conf"


def saved(host, what):
    """What side_effect.yml kept on the controller for this host."""
    name = host.backend.get_hostname()
    with open(os.path.join(RESULTS, f"{name}-{what}.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture
def prediction(host):
    return saved(host, "prediction")


@pytest.fixture
def audit(host):
    return saved(host, "audit")


def test_release_ships_sysctl_conf_and_its_link_or_neither(host, hostvars):
    """Read on the booted release before prepare.yml added to it."""
    shipped = host.file("/var/lib/netstack-sysctl-as-shipped").content_string.split()
    if hostvars["molecule_expected_sysctl_conf_unread"]:
        assert shipped == ["sysctl.conf=no", "99-sysctl.conf=no"]
    else:
        assert shipped == ["sysctl.conf=yes", "99-sysctl.conf=../sysctl.conf"]


def test_booted_values_equal_the_prediction(host, prediction):
    booted = {
        option: int(host.file(f"/proc/sys/net/ipv4/{option}").content_string)
        for option in prediction["boot_values"]
    }
    predicted = {option: v["value"] for option, v in prediction["boot_values"].items()}
    assert "tcp_retries2" in predicted, "the tricky tree sets tcp_retries2"
    assert booted == predicted


def test_each_predicted_source_line_sets_that_value(host, prediction):
    """file:line of the prediction really holds the assignment (read on the booted host)."""
    for option, booted in prediction["boot_values"].items():
        lines = host.file(booted["file"]).content_string.splitlines()
        key, _sep, value = lines[booted["line"] - 1].partition("=")
        assert (key.strip(), value.strip()) == (f"net.ipv4.{option}", str(booted["value"]))


def test_the_tricky_tree_winner_is_the_releases_own(prediction, hostvars):
    expected = hostvars["molecule_expected_retries2"]
    retries2 = prediction["boot_values"]["tcp_retries2"]
    assert (retries2["value"], retries2["file"]) == (expected["value"], expected["file"])


def test_systemd_sysctl_parsed_the_predicted_files_and_not_the_masked_one(
    sysctl_journal, prediction
):
    parsed = {
        line[len("Parsing ") :]
        for line in sysctl_journal.splitlines()
        if line.startswith("Parsing ")
    }
    assert "/run/sysctl.d/70-netstack-run.conf" in parsed
    assert "/usr/lib/sysctl.d/50-netstack-vendor.conf" not in parsed
    assert SYSCTL_CONF not in parsed, "systemd-sysctl never reads it under its own name"
    assert {v["file"] for v in prediction["boot_values"].values()} <= parsed


def test_an_unread_sysctl_conf_is_a_boot_problem(prediction, hostvars):
    problems = [p for p in prediction["boot_problems"] if p["file"] == SYSCTL_CONF]
    warnings = [w for w in prediction.get("warnings", []) if SYSCTL_CONF + ":" in w]
    if hostvars["molecule_expected_sysctl_conf_unread"]:
        assert [p["line"] for p in problems] == [None, 2], problems
        assert "never applied at boot" in problems[1]["reason"]
        assert warnings, prediction.get("warnings")
    else:
        assert problems == [] and warnings == []


# --- the adoption audit against the release's own services, after the reboot -----------------


def rows(audit, local_port=None, remote_port=None):
    found = audit["sockets"]
    if local_port is not None:
        found = [r for r in found if r["local"].rsplit(":", 1)[1] == str(local_port)]
    if remote_port is not None:
        found = [r for r in found if r["remote"].rsplit(":", 1)[1] == str(remote_port)]
    return found


def assert_exact_or_degraded(audit, found, expected):
    """Exact values from getsockopt, or the documented degraded mode (source timer, with
    the reason in degraded) - never a missing or half-filled row."""
    assert found, audit["sockets"]
    for row in found:
        if row["source"] == "timer":
            assert audit["degraded"], row
            continue
        assert row["source"] == "getsockopt", row
        assert {k: row[k] for k in expected} == expected, row


def test_audit_ran_without_a_traceback(audit):
    assert not audit.get("failed") and "module_stderr" not in audit, audit


def test_audit_sshd_keeps_the_namespace_values(audit, hostvars):
    """sshd's TCPKeepAlive yes: SO_KEEPALIVE with the namespace's sysctls (our values)."""
    want = hostvars["molecule_expected_keepalive"]
    expected = {
        "keepalive": True,
        "idle": want["time"],
        "intvl": want["intvl"],
        "cnt": want["probes"],
    }
    assert_exact_or_degraded(audit, rows(audit, local_port=22), expected)


def test_audit_redis_tcp_keepalive_60(audit):
    """redis sets TCP_KEEPIDLE 60, TCP_KEEPINTVL 60/3 and TCP_KEEPCNT 3 on each client."""
    expected = {"keepalive": True, "idle": 60, "intvl": 20, "cnt": 3}
    assert_exact_or_degraded(audit, rows(audit, local_port=6379), expected)


def test_audit_plain_sockets_have_no_keepalive(audit):
    plain = rows(audit, local_port=7070) + rows(audit, remote_port=7070)
    redis_client = rows(audit, remote_port=6379)
    assert len(plain) == 2 and len(redis_client) == 1, audit["sockets"]
    for row in plain + redis_client:
        assert row["keepalive"] is False or (row["source"] == "timer" and audit["degraded"]), row


# --- the audit playbook in check mode ---------------------------------------------------------


def test_audit_playbook_in_check_mode_changed_no_file_and_no_value(host):
    hashes = saved(host, "audit-hashes")
    assert hashes["before"] == hashes["after"]
    assert any("90-netstack-keepalive.conf" in line for line in hashes["before"])
    name = host.backend.get_hostname()
    recap = [line for line in hashes["recap"] if line.startswith(name)]
    assert recap and "failed=0" in recap[0] and "unreachable=0" in recap[0], hashes["recap"]

"""keepalive_sysctl on real lab hosts: four runs, shadowing, absent, reboots, errors.

Each lab host has its own network namespace (its own ``net.ipv4.tcp_keepalive_*``), its own
``/etc`` on a private disk and runs ``sysctl --system`` at every boot, so a "reboot" proves
that the boot values the module predicts are the ones the host really gets. Every test also
checks that the other hosts and the machine running the tests kept what they had.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hostproof import unchanged  # noqa: E402

MODULE = "netstack.keepalive.keepalive_sysctl"
OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
LOCK = "/etc/sysctl.d/.90-netstack-keepalive.conf.lock"
OPTIONS = ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")
DEFAULTS = {"tcp_keepalive_time": 7200, "tcp_keepalive_intvl": 75, "tcp_keepalive_probes": 9}
WANT = {"tcp_keepalive_time": 120, "tcp_keepalive_intvl": 30, "tcp_keepalive_probes": 6}
LAB_HOSTS = 3
pytestmark = pytest.mark.lab


def runtime(lab, host):
    """The host's runtime values, read inside its own namespaces (no ssh, no module)."""
    done = lab.run(host, "cd /proc/sys/net/ipv4 && cat %s" % " ".join(OPTIONS), check=True)
    return dict(zip(OPTIONS, map(int, done.stdout.split()), strict=True))


def sysctl_files(lab, host):
    """Every sysctl file the host reads at boot, with content: what 'nothing changed' means."""
    script = (
        "for f in /etc/sysctl.conf /etc/sysctl.d/* /run/sysctl.d/* /usr/local/lib/sysctl.d/* "
        '/usr/lib/sysctl.d/*; do [ -e "$f" ] || [ -L "$f" ] || continue; '
        'echo "== $f $(stat -c %a "$f")"; cat "$f" 2>&1; done'
    )
    return lab.run(host, script, check=True).stdout


def machine_state():
    """The test machine's own keepalive values and sysctl.d files: never ours to touch."""
    values = {}
    for option in OPTIONS:
        with open("/proc/sys/net/ipv4/" + option) as handle:
            values[option] = int(handle.read())
    listing = {d: sorted(os.listdir(d)) for d in ("/etc/sysctl.d",) if os.path.isdir(d)}
    return values, listing


def state_of(lab):
    return {h.name: (runtime(lab, h.name), sysctl_files(lab, h.name)) for h in lab.hosts}


def clean_host(lab, host, *extra):
    """Back to a fresh host: our file, its lock and ``extra`` files gone, reboot (kernel
    defaults)."""
    lab.run(host, ["rm", "-f", OURS, LOCK, *extra], check=True)
    lab.reboot(host)
    assert runtime(lab, host) == DEFAULTS


@pytest.fixture
def untouched(lab):
    """Yields a function that asserts every host but the given ones, and the machine, kept
    what they had when the test started."""
    before_hosts = state_of(lab)
    before_machine = machine_state()

    def check(*touched):
        after = state_of(lab)
        for name, state in before_hosts.items():
            if name not in touched:
                assert after[name] == state, "host %s changed" % name
        assert machine_state() == before_machine

    return check


def four_runs_play(host, args):
    """One play: check, real, idempotence in check mode, idempotence (community.crypto style)."""
    task = {MODULE: args}
    return [
        {
            "hosts": host,
            "gather_facts": False,
            "tasks": [
                dict(task, name="check", check_mode=True, diff=True, register="r_check"),
                dict(task, name="real", diff=True, register="r_real"),
                dict(task, name="idem check", check_mode=True, register="r_idem_check"),
                dict(task, name="idem", register="r_idem"),
                {
                    "name": "assert the four-run pattern",
                    "ansible.builtin.assert": {
                        "that": [
                            "r_check is changed",
                            "r_real is changed",
                            "r_idem_check is not changed",
                            "r_idem is not changed",
                        ]
                    },
                },
            ],
        }
    ]


def test_four_runs_then_reboot_gives_the_predicted_values(lab, ansible_playbook, untouched):
    host = lab.hosts[0].name
    run = ansible_playbook(four_runs_play(host, WANT))
    assert run.rc == 0, run
    r_check, r_real = run.task("check", host), run.task("real", host)
    assert r_check["after"] == WANT and r_check["before"] == DEFAULTS
    assert r_check["diff"][0]["before_header"] == OURS + " (absent)"
    assert runtime(lab, host) == WANT == r_real["after"]
    files = sysctl_files(lab, host)
    assert "== %s 644\n# Managed by Ansible" % OURS in files
    predicted = {o: v["value"] for o, v in r_real["boot_values"].items()}
    assert predicted == WANT
    assert r_real["boot_values"]["tcp_keepalive_time"]["source"] == OURS + ":3"
    assert r_real["shadowed_by"] == [] and r_real["detection_seconds"] == 300
    untouched(host)

    lab.reboot(host)
    assert runtime(lab, host) == predicted
    clean_host(lab, host)


@pytest.mark.parametrize(
    "shadow_file, shadow_line",
    [
        ("/etc/sysctl.d/99-zzz.conf", "net.ipv4.tcp_keepalive_time = 4000"),
        ("/etc/sysctl.conf", "net/ipv4/tcp_keepalive_time=4000"),
    ],
    ids=["later-sysctl.d-file", "etc-sysctl.conf"],
)
def test_shadowing_fails_then_warns_and_reboot_agrees(
    lab, ansible_module, untouched, shadow_file, shadow_line
):
    host = lab.hosts[1].name
    original = lab.run(host, ["cat", shadow_file]).stdout  # "" when it does not exist
    lab.run(
        host, ["sh", "-c", 'printf "%%s\\n" "$1" >> %s' % shadow_file, "-", shadow_line], check=True
    )
    before = sysctl_files(lab, host)

    failed = ansible_module(MODULE, WANT, pattern=host).by_host[host]
    assert failed.failed
    assert failed.msg.startswith(OURS + " is overridden at boot: ")
    assert "sets net.ipv4.tcp_keepalive_time = 4000" in failed.msg
    assert "on_shadowed=fail; nothing was changed" in failed.msg
    assert (runtime(lab, host), sysctl_files(lab, host)) == (DEFAULTS, before)

    warned = ansible_module(MODULE, dict(WANT, on_shadowed="warn"), pattern=host).by_host[host]
    assert warned.changed and not warned.failed
    assert shadow_file in json.dumps(warned.get("warnings"))
    assert {e["file"] for e in warned["shadowed_by"]} >= {shadow_file}
    predicted = {o: v["value"] for o, v in warned["boot_values"].items()}
    assert predicted == dict(WANT, tcp_keepalive_time=4000)
    untouched(host)

    lab.reboot(host)
    assert runtime(lab, host) == predicted  # the module told the truth about the reboot
    if original:
        lab.run(host, ["sh", "-c", 'printf "%s" "$1" > ' + shadow_file, "-", original], check=True)
        clean_host(lab, host)
    else:
        clean_host(lab, host, shadow_file)


def test_absent_restores_runtime_and_reboot_agrees(lab, ansible_module, untouched):
    host = lab.hosts[2].name
    vendor = "/usr/lib/sysctl.d/50-vendor-keepalive.conf"
    lab.run(host, "echo 'net.ipv4.tcp_keepalive_probes = 5' > " + vendor, check=True)
    set_run = ansible_module(MODULE, dict(WANT, on_shadowed="ignore"), pattern=host)
    assert set_run.by_host[host].changed and runtime(lab, host) == WANT

    args = {"state": "absent", "restore_runtime": True}
    check = ansible_module(MODULE, args, pattern=host, check=True).by_host[host]
    assert check.changed and runtime(lab, host) == WANT
    gone = ansible_module(MODULE, args, pattern=host).by_host[host]
    again = ansible_module(MODULE, args, pattern=host).by_host[host]
    assert gone.changed and not again.changed
    expected = dict(DEFAULTS, tcp_keepalive_probes=5)
    assert runtime(lab, host) == expected
    assert gone["boot_values"]["tcp_keepalive_probes"]["source"] == vendor + ":1"
    assert OURS not in sysctl_files(lab, host)
    untouched(host)

    lab.reboot(host)
    assert runtime(lab, host) == expected
    clean_host(lab, host, vendor)


# A tree where each key's boot value is decided by a different rule of the model.
TRICKY_TREE = {
    # masked by the /dev/null link of the same name in /etc/sysctl.d: sets nothing
    "/usr/lib/sysctl.d/99-vendor-ka.conf": "net.ipv4.tcp_keepalive_time = 111\n",
    # CRLF, "/" separators, sorts after ours: wins for time
    "/usr/local/lib/sysctl.d/95-local-ka.conf": (
        "# dos file\r\nnet/ipv4/tcp_keepalive_time = 222\r\n"
    ),
    # "-" prefix, then a duplicate without spaces: the later one wins for intvl
    "/etc/sysctl.d/96-dup-ka.conf": "-net.ipv4.tcp_keepalive_intvl = 11\n"
    "  net.ipv4.tcp_keepalive_intvl=12  \n; net.ipv4.tcp_keepalive_probes = 99\n",
    # same name as a lower file but only comments: masks it
    "/etc/sysctl.d/97-mask-ka.conf": "# nothing here\n",
    "/usr/lib/sysctl.d/97-mask-ka.conf": "net.ipv4.tcp_keepalive_probes = 88\n",
}
TRICKY_LINKS = {
    "/etc/sysctl.d/99-vendor-ka.conf": "/dev/null",
    "/etc/sysctl.d/96-gone-ka.conf": "/nonexistent-ka.conf",
}


def test_model_agrees_with_real_sysctl_system_after_reboot(lab, ansible_module, untouched):
    """The prediction on a tree full of masks, links, CRLF, separators, prefixes, duplicates,
    an unreadable file and /etc/sysctl.conf, against what procps really applies at boot."""
    host = lab.hosts[2].name
    for path, text in TRICKY_TREE.items():
        lab.run(
            host,
            ["sh", "-c", 'mkdir -p "${1%/*}" && printf "%s" "$2" > "$1"', "-", path, text],
            check=True,
        )
    for path, target in TRICKY_LINKS.items():
        lab.run(host, ["ln", "-sfn", target, path], check=True)
    conf = lab.run(host, ["cat", "/etc/sysctl.conf"], check=True).stdout
    lab.run(host, "echo 'net.ipv4.tcp_keepalive_probes = 7' >> /etc/sysctl.conf", check=True)

    result = ansible_module(MODULE, dict(WANT, on_shadowed="ignore"), pattern=host).by_host[host]
    assert result.changed, result.result
    predicted = {o: v["value"] for o, v in result["boot_values"].items()}
    assert predicted == {
        "tcp_keepalive_time": 222,
        "tcp_keepalive_intvl": 12,
        "tcp_keepalive_probes": 7,
    }
    assert result["boot_values"]["tcp_keepalive_probes"]["source"] == "/etc/sysctl.conf:%d" % (
        conf.count("\n") + 1
    )
    assert [p["file"] for p in result["boot_problems"]] == ["/etc/sysctl.d/96-gone-ka.conf"]
    shadows = {(e["file"], e["key"]) for e in result["shadowed_by"]}
    assert ("/usr/local/lib/sysctl.d/95-local-ka.conf", "net.ipv4.tcp_keepalive_time") in shadows
    untouched(host)

    lab.reboot(host)
    assert runtime(lab, host) == predicted  # procps at boot did what the model said
    lab.run(host, ["sh", "-c", 'printf "%s" "$1" > /etc/sysctl.conf', "-", conf], check=True)
    clean_host(lab, host, *TRICKY_TREE, *TRICKY_LINKS)


ERROR_CASES = {
    "time-0": (
        {"tcp_keepalive_time": 0},
        "tcp_keepalive_time=0 is out of range; allowed: a whole number of seconds in 1..32767; "
        "nothing was changed",
    ),
    "intvl-32768": ({"tcp_keepalive_intvl": 32768}, "tcp_keepalive_intvl=32768 is out of range"),
    "probes-128": (
        {"tcp_keepalive_probes": 128},
        "tcp_keepalive_probes=128 is out of range; allowed: a whole number of probes in 1..127",
    ),
    "fraction": ({"tcp_keepalive_time": "1.5"}, "tcp_keepalive_time='1.5' is not a whole number"),
    "boolean": ({"tcp_keepalive_time": True}, "tcp_keepalive_time=True is a boolean"),
    "outside": (
        {"tcp_keepalive_time": 60, "path": "/etc/keepalive.conf"},
        "path='/etc/keepalive.conf' is outside the sysctl.d directories",
    ),
    "not-conf": ({"tcp_keepalive_time": 60, "path": "/etc/sysctl.d/60-k.txt"}, "only *.conf"),
    "netns": (
        {"tcp_keepalive_time": 60, "netns": "no-such-ns"},
        "netns='no-such-ns': no such network namespace",
    ),
    "retries2-2": (
        dict(WANT, tcp_retries2=2),
        "tcp_retries2=2 is refused: the kernel would give up on a connection with "
        "unacknowledged data after about 1.4 s of unanswered retransmissions",
    ),
    "retries2-256": (
        {"tcp_retries2": 256},
        "tcp_retries2=256 is out of range; allowed: a whole number of retransmissions in 3..255",
    ),
    "retries2-fraction": ({"tcp_retries2": "8.5"}, "tcp_retries2='8.5' is not a whole number"),
}


def test_errors_change_nothing_anywhere(lab, ansible_playbook, untouched):
    """Every error case on every host, in one playbook run (ignore_errors per case)."""
    tasks = [
        {"name": name, MODULE: args, "ignore_errors": True}
        for name, (args, _message) in ERROR_CASES.items()
    ]
    run = ansible_playbook([{"hosts": "lab", "gather_facts": False, "tasks": tasks}])
    for name, (_args, message) in ERROR_CASES.items():
        for host in lab.hosts:
            result = run.task(name, host.name)
            assert result.failed and message in result.msg, (name, result.msg)
    untouched()


def test_read_only_proc_sys_net_changes_nothing(lab, ansible_module, untouched):
    """A container-like host: /proc/sys/net read-only (remounted so inside the host, whose
    sshd and so the module see it), then writable again."""
    host = lab.hosts[0].name
    lab.run(host, "mount -o remount,bind,ro /proc/sys/net", check=True)
    try:
        result = ansible_module(MODULE, {"tcp_keepalive_time": 120}, pattern=host).by_host[host]
    finally:
        lab.run(host, "mount -o remount,bind,rw /proc/sys/net", check=True)
    assert result.failed, result.result
    assert "/proc/sys/net/ipv4 is read-only here" in result.msg, result.msg
    assert "nothing was changed" in result.msg
    untouched()


def test_netns_option_on_this_machine(tmp_path):
    """netns= on the controller itself (persist=false: this machine's /etc is not ours)."""
    name = "ks-%s" % uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        before = machine_state()
        env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_NOCOLOR="1")
        argv = [
            os.path.join(os.path.dirname(sys.executable), "ansible"),
            "localhost",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=" + sys.executable,
            "-m",
            MODULE,
            "-a",
            "tcp_keepalive_time=321 tcp_keepalive_probes=4 persist=false netns=" + name,
            "-o",
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert done.returncode == 0 and "CHANGED" in done.stdout, done.stdout + done.stderr
        inside = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                name,
                "cat",
                "/proc/sys/net/ipv4/tcp_keepalive_time",
                "/proc/sys/net/ipv4/tcp_keepalive_probes",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert inside == ["321", "4"]
        assert machine_state() == before
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


# ---------------------------------------------------------------------------------------------
# tcp_retries2


def retries2(lab, host):
    done = lab.run(host, ["cat", "/proc/sys/net/ipv4/tcp_retries2"], check=True)
    return int(done.stdout)


def test_retries2_set_shadowed_absent_and_every_reboot_agrees(
    lab, ansible_module, ansible_playbook, untouched
):
    """tcp_retries2 through Ansible: check mode with diff changes nothing, four runs, a reboot
    gives the predicted value; a later file shadows it (file:line, refused then warned, the
    reboot gives the shadowing value); absent with restore_runtime puts its boot value back."""
    host = lab.hosts[0].name
    args = dict(WANT, tcp_retries2=8)
    with unchanged(lab, [host]):
        check = ansible_module(MODULE, args, pattern=host, check=True, diff=True).by_host[host]
    assert check.changed and not check.failed, check.result
    assert check["before"] == dict(DEFAULTS, tcp_retries2=15)
    assert check["after"] == args
    assert check["diff"][0]["after"].endswith("net.ipv4.tcp_retries2 = 8\n")
    assert "net.ipv4.tcp_retries2 = 15\n" in check["diff"][1]["before"]

    run = ansible_playbook(four_runs_play(host, args))
    assert run.rc == 0, run
    real = run.task("real", host)
    assert (runtime(lab, host), retries2(lab, host)) == (WANT, 8)
    assert real["boot_values"]["tcp_retries2"] == {
        "value": 8,
        "source": OURS + ":6",
        "file": OURS,
        "line": 6,
    }
    assert real["detection_seconds"] == 300  # the idle figure
    untouched(host)
    lab.reboot(host)
    assert (runtime(lab, host), retries2(lab, host)) == (WANT, 8)

    later = "/etc/sysctl.d/99-zzz-retries2.conf"
    lab.run(host, "printf '# site\\nnet.ipv4.tcp_retries2 = 12\\n' > " + later, check=True)
    with unchanged(lab, [host]):
        # not passed now: kept from the earlier run, so still ours, and shadowed
        refused = ansible_module(MODULE, {"tcp_keepalive_time": 150}, pattern=host).by_host[host]
    assert refused.failed
    assert refused.msg.startswith(
        OURS + " is overridden at boot: %s:2 sets net.ipv4.tcp_retries2 = 12" % later
    )
    assert "on_shadowed=fail; nothing was changed" in refused.msg
    warned = ansible_module(MODULE, dict(args, on_shadowed="warn"), pattern=host).by_host[host]
    assert not warned.failed and not warned.changed
    assert warned["shadowed_by"] == [
        {
            "file": later,
            "line": 2,
            "key": "net.ipv4.tcp_retries2",
            "value": 12,
            "reason": "applied after " + OURS,
        }
    ]
    assert "%s:2 sets net.ipv4.tcp_retries2 = 12" % later in json.dumps(warned.get("warnings"))
    boot = warned["boot_values"]["tcp_retries2"]
    assert (boot["value"], boot["source"]) == (12, later + ":2")
    lab.reboot(host)
    assert retries2(lab, host) == boot["value"]  # the model told the truth about the reboot

    lab.run(host, ["rm", "-f", later], check=True)
    ansible_module(MODULE, args, pattern=host)  # 8 again at runtime
    restore = {"state": "absent", "restore_runtime": True}
    gone = ansible_module(MODULE, restore, pattern=host).by_host[host]
    assert gone.changed and gone["before"]["tcp_retries2"] == 8
    boot = gone["boot_values"]["tcp_retries2"]
    assert (boot["value"], boot["source"]) == (15, "kernel default")
    assert (runtime(lab, host), retries2(lab, host)) == (DEFAULTS, 15)
    assert OURS not in sysctl_files(lab, host)
    untouched(host)
    lab.reboot(host)
    assert retries2(lab, host) == boot["value"]
    clean_host(lab, host, later)


def test_without_the_option_retries2_is_never_touched(lab, ansible_module, untouched):
    """A run without tcp_retries2 neither reads it into the result nor changes it."""
    host = lab.hosts[1].name
    lab.run(host, "echo 11 > /proc/sys/net/ipv4/tcp_retries2", check=True)
    try:
        result = ansible_module(MODULE, WANT, pattern=host, diff=True).by_host[host]
        assert result.changed and retries2(lab, host) == 11
        assert "tcp_retries2" not in result["before"] and "tcp_retries2" not in result["after"]
        assert "tcp_retries2" not in result["boot_values"]
        assert all("retries2" not in d["before"] + d["after"] for d in result["diff"])
        untouched(host)
    finally:
        clean_host(lab, host)

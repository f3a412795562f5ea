"""Benchmark keepalive_sysctl against a role of three ansible.posix.sysctl tasks.

Run as root from the repository root with the dev venv:

    .venv/bin/python benchmarks/bench_keepalive_sysctl.py [--hosts 10] [--repeat 5]

Both sides converge the same three values (net.ipv4.tcp_keepalive_time/intvl/probes) into the
same file, /etc/sysctl.d/90-netstack-keepalive.conf, on the same lab hosts (tests/lab: one
network namespace, private /etc and sshd per host), with the same Ansible settings (forks =
hosts, pipelining, ssh ControlPersist, no fact gathering):

- ours: one ``netstack.keepalive.keepalive_sysctl`` task;
- ansible.posix: a role with three ``ansible.posix.sysctl`` tasks (``sysctl_file`` that file,
  ``reload: true``), the usual way to do it with that module.

For each round the hosts are reset (file removed, kernel defaults written back), then each
side is timed for a first run and for an idempotent re-run (``ansible-playbook`` wall time);
the order of the two sides alternates between rounds. Figures are medians of ``--repeat``
rounds; the ratio is ours / ansible.posix, taken per round (the two sides run back to back,
so load from other jobs mostly cancels) and then the median; the ratio of the medians is
printed too. Target: <= 0.5. A one-task ``ansible.builtin.ping`` play on the same hosts shows
Ansible's own floor. Every run's outcome is checked (first run changed, re-run not changed,
values on the hosts), so a fast wrong answer cannot win.

ansible.posix comes from the ``ansible`` package on PyPI: the script downloads it once into
the ignored .cache/ and extracts only ansible_collections/ansible/posix. The lab is always
torn down, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests" / "lab"))
import lab as lab_module  # noqa: E402
from _collection_path import collections_path  # noqa: E402

ANSIBLE_SPEC = "ansible>=12,<13"  # the community package built on ansible-core 2.19
CACHE = REPO / ".cache"
BENCH_COLLECTIONS = CACHE / "bench-collections"
POSIX_DIR = BENCH_COLLECTIONS / "ansible_collections" / "ansible" / "posix"
VENV_BIN = Path(sys.executable).parent
OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
VALUES = {"tcp_keepalive_time": 120, "tcp_keepalive_intvl": 30, "tcp_keepalive_probes": 6}
DEFAULTS = {"tcp_keepalive_time": 7200, "tcp_keepalive_intvl": 75, "tcp_keepalive_probes": 9}


def ensure_ansible_posix():
    """ansible.posix from the ``ansible`` wheel, extracted once (idempotent)."""
    if (POSIX_DIR / "plugins" / "modules" / "sysctl.py").exists():
        return POSIX_DIR
    wheels = CACHE / "pip-ansible"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob("ansible-12.*-py3-none-any.whl"))
    if not found:
        subprocess.run(
            [str(VENV_BIN / "pip"), "download", "--no-deps", "-d", str(wheels), ANSIBLE_SPEC],
            check=True,
        )
        found = sorted(wheels.glob("ansible-12.*-py3-none-any.whl"))
    prefix = "ansible_collections/ansible/posix/"
    with zipfile.ZipFile(found[-1]) as wheel:
        wheel.extractall(BENCH_COLLECTIONS, [n for n in wheel.namelist() if n.startswith(prefix)])
    return POSIX_DIR


def posix_version():
    manifest = json.loads((POSIX_DIR / "MANIFEST.json").read_text())
    return manifest["collection_info"]["version"]


def free_subnet():
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=True
    ).stdout
    used = {w.split("/")[0].rsplit(".", 1)[0] for w in routes.split() if w[:1].isdigit()}
    candidates = ["10.%d.%d" % (b, c) for b in range(200, 250) for c in range(256)]
    random.shuffle(candidates)
    return next(s for s in candidates if s not in used)


def write_playbooks(workdir):
    """Both sides as files: our one task, and a role of three ansible.posix.sysctl tasks."""
    ours = [
        {
            "name": "ours",
            "hosts": "lab",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Keepalive sysctls",
                    "netstack.keepalive.keepalive_sysctl": dict(VALUES, path=OURS),
                }
            ],
        }
    ]
    tasks = [
        {
            "name": "Set net.ipv4.%s" % option,
            "ansible.posix.sysctl": {
                "name": "net.ipv4." + option,
                "value": str(value),
                "sysctl_file": OURS,
                "reload": True,  # sysctl -p FILE after a change (sysctl_set left at false)
                "state": "present",
            },
        }
        for option, value in VALUES.items()
    ]
    role_tasks = workdir / "roles" / "posix_keepalive" / "tasks"
    role_tasks.mkdir(parents=True, exist_ok=True)
    (role_tasks / "main.yml").write_text(json.dumps(tasks, indent=2))
    posix = [
        {
            "name": "ansible.posix",
            "hosts": "lab",
            "gather_facts": False,
            "roles": ["posix_keepalive"],
        }
    ]
    floor = [
        {
            "name": "floor",
            "hosts": "lab",
            "gather_facts": False,
            "tasks": [{"name": "Ansible's own cost of one task", "ansible.builtin.ping": {}}],
        }
    ]
    for name, plays in (("ours", ours), ("posix", posix), ("floor", floor)):
        (workdir / (name + ".yml")).write_text(json.dumps(plays, indent=2))
    return {name: workdir / (name + ".yml") for name in ("ours", "posix", "floor")}


def ansible_env(workdir, forks):
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (collections_path(), BENCH_COLLECTIONS),
            "ANSIBLE_ROLES_PATH": str(workdir / "roles"),
            "ANSIBLE_HOME": str(workdir / "home"),
            "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(workdir / "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_FORKS": str(forks),
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_STDOUT_CALLBACK": "json",
        }
    )
    return env


def play(playbook, inventory, env):
    """One timed ansible-playbook run: (seconds, per-host stats)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        capture_output=True,
        text=True,
        check=False,  # a failure is reported below with Ansible's output
        env=env,
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            "%s failed (rc=%d):\n%s\n%s"
            % (playbook, done.returncode, done.stdout[-4000:], done.stderr)
        )
    return elapsed, json.loads(done.stdout)["stats"]


def reset_hosts(lab):
    """Every host back to no file and kernel defaults, without Ansible."""
    script = "rm -f %s; cd /proc/sys/net/ipv4 && %s" % (
        OURS,
        " && ".join("echo %d > %s" % (v, k) for k, v in DEFAULTS.items()),
    )
    for host in lab.hosts:
        lab.run(host.name, script, check=True)


def check_hosts(lab):
    names = " ".join(VALUES)
    for host in lab.hosts:
        out = lab.run(host.name, "cd /proc/sys/net/ipv4 && cat " + names, check=True).stdout
        values = dict(zip(VALUES, map(int, out.split()), strict=True))
        if values != VALUES:
            raise SystemExit("%s has %s, expected %s" % (host.name, values, VALUES))


def one_round(lab, side, playbooks, env):
    """First run and idempotent re-run of one side, each checked; returns their seconds."""
    reset_hosts(lab)
    first, stats = play(playbooks[side], lab.inventory_path, env)
    if any(s["changed"] == 0 for s in stats.values()):
        raise SystemExit("%s: first run did not change every host: %s" % (side, stats))
    check_hosts(lab)
    again, stats = play(playbooks[side], lab.inventory_path, env)
    if any(s["changed"] for s in stats.values()):
        raise SystemExit("%s: re-run changed something (not idempotent): %s" % (side, stats))
    return first, again


def run_benchmark(hosts, repeat, workdir):
    ensure_ansible_posix()
    prefix = "bks%d" % random.randrange(100, 1000)
    lab = lab_module.Lab(
        prefix=prefix,
        bridge=prefix + "br0",
        subnet=free_subnet(),
        state_dir=str(CACHE / "lab" / prefix),
    )
    playbooks = write_playbooks(workdir)
    env = ansible_env(workdir, hosts)
    times = {side: {"first": [], "again": []} for side in ("ours", "posix")}
    times["floor"] = []
    try:
        lab.up(hosts)
        # One untimed warm-up per side: ssh masters, Python byte-code caches on both ends.
        for side in ("ours", "posix"):
            one_round(lab, side, playbooks, env)
        for index in range(repeat):
            order = ("ours", "posix") if index % 2 == 0 else ("posix", "ours")
            for side in order:
                first, again = one_round(lab, side, playbooks, env)
                times[side]["first"].append(first)
                times[side]["again"].append(again)
                print(
                    "round %d %-6s first %.2f s, re-run %.2f s" % (index + 1, side, first, again),
                    flush=True,
                )
            floor, _stats = play(playbooks["floor"], lab.inventory_path, env)
            times["floor"].append(floor)
    finally:
        for sock in (workdir / "cp").glob("*"):
            subprocess.run(
                ["ssh", "-O", "exit", "-o", "ControlPath=%s" % sock, "lab"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        lab.down()
    return times


def report(times, hosts, repeat):
    """Medians, and the median of the per-round ratios (both sides of a round ran back to back,
    so load from other jobs on the machine mostly cancels out in that ratio)."""
    rows = {}
    for run in ("first", "again"):
        ours, posix = times["ours"][run], times["posix"][run]
        paired = [o / p for o, p in zip(ours, posix, strict=True)]
        rows[run] = {
            "ours_s": round(statistics.median(ours), 3),
            "posix_s": round(statistics.median(posix), 3),
            "ratio_of_medians": round(statistics.median(ours) / statistics.median(posix), 3),
            "ratio": round(statistics.median(paired), 3),
        }
    floor = statistics.median(times["floor"])
    print()
    print(
        "keepalive_sysctl vs ansible.posix.sysctl %s (3 tasks, reload): %d hosts, median "
        "of %d rounds" % (posix_version(), hosts, repeat)
    )
    print(
        "%-19s %9s %14s %12s %17s"
        % ("", "ours (s)", "ansible.posix", "paired ratio", "ratio of medians")
    )
    for run, label in (("first", "first run"), ("again", "idempotent re-run")):
        row = rows[run]
        print(
            "%-19s %9.2f %14.2f %11.2fx %16.2fx"
            % (label, row["ours_s"], row["posix_s"], row["ratio"], row["ratio_of_medians"])
        )
    print("floor: one ansible.builtin.ping task on the same hosts: %.2f s" % floor)
    target = all(row["ratio"] <= 0.5 for row in rows.values())
    print("target ours <= 0.5x (paired ratio): %s" % ("met" if target else "NOT met"))
    return {
        "hosts": hosts,
        "repeat": repeat,
        "ansible_posix": posix_version(),
        "medians": rows,
        "floor_s": round(floor, 3),
        "runs": times,
        "target_met": target,
        "load_average": os.getloadavg(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the lab creates network namespaces")
    workdir = CACHE / "bench-keepalive-sysctl"
    workdir.mkdir(parents=True, exist_ok=True)
    times = run_benchmark(args.hosts, args.repeat, workdir)
    summary = report(times, args.hosts, args.repeat)
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "keepalive_sysctl.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Benchmark the audit and the rollout on lab fleets of growing size: wall time, seconds per
host, memory per host, and the audit against Ansible's own floor (a one-task ping play).

Run as root from the repository root with the dev venv:

    .venv/bin/python benchmarks/bench_audit.py [--hosts 20 50 200] [--forks 20] [--repeat 3]
                                               [--variants]

For each count in ``--hosts`` it brings up that many namespace hosts (tests/lab), each with a
profile and a path from a rotation over three clouds and a proxy path, measures the memory
the idle fleet takes (MemAvailable before and after, and the proportional set size of the
lab's processes), rolls the values out once (timed: the rollout's seconds per host), then
times ``ansible-playbook netstack.keepalive.audit`` (check mode, one module call per host,
verdicts and the fleet report on the controller) ``--repeat`` times, alternating with a
one-task ``ansible.builtin.ping`` play on the same hosts, and prints medians, seconds per host
and the audit / ping ratio. ``--variants`` also times the audit without pipelining and with
the ``free`` strategy in the same rounds. Each audit run is checked: every host in
report.json, and no host changed (hashes of /etc/sysctl.d and the sysctls before and after).
The table at the end has one row per fleet size; the cost per host should not grow with it.
The lab is always torn down, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "scripts"))

from _collection_path import collections_path  # noqa: E402
from lab import Lab  # noqa: E402

ROTATION = [
    {"tcp_keepalive_profile": "cloud", "tcp_keepalive_path": ["aws_nlb", "aws_nat_gateway"]},
    {"tcp_keepalive_profile": "database", "tcp_keepalive_path": ["azure_lb_standard"]},
    {"tcp_keepalive_profile": "cloud", "tcp_keepalive_path": ["gcp_cloud_nat"]},
    {"tcp_keepalive_profile": "latency_sensitive",
     "tcp_keepalive_path": [{"id": "haproxy"}, {"name": "fw", "idle_timeout": 900, "layer": 4}]},
]  # fmt: skip
# Audit runs besides the default one (pipelining on, linear strategy), with --variants.
VARIANTS = {
    "audit, no pipelining": {"ANSIBLE_PIPELINING": "false"},
    "audit, strategy free": {"ANSIBLE_STRATEGY": "free"},
}


def playbook(argv, inventory, forks, work, env_extra=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path()),
               ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_PIPELINING="true",
               ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_HOME=str(work / "home"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(work / "cp"))  # fmt: skip
    env.update(env_extra or {})
    start = time.perf_counter()
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), "-f",
         str(forks)] + argv, capture_output=True, text=True, env=env, cwd=REPO,
        check=False)  # fmt: skip
    return time.perf_counter() - start, done


def fleet_hash(lab):
    digest = hashlib.sha256()
    for host in lab.hosts:
        state = lab.run(
            host.name,
            "ls -la --time-style=full-iso /etc/sysctl.d; cat "
            "/etc/sysctl.d/* /proc/sys/net/ipv4/tcp_keepalive_*",
            check=True,
        )
        digest.update(state.stdout.encode())  # fmt: skip
    return digest.hexdigest()


def mem_available_kib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            text = Path("/proc/%d/smaps_rollup" % pid).read_text()
        except OSError:
            continue  # gone meanwhile
        total += sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:"))
    return total


def audit_once(lab, inventory, args, work, label, env_extra=None):
    before = fleet_hash(lab)
    report_dir = work / ("report-%s" % time.monotonic_ns())
    seconds, done = playbook(["netstack.keepalive.audit", "-e", json.dumps(
        {"keepalive_report_dir": str(report_dir), "keepalive_audit_gate": False})],
        inventory, args.forks, work, env_extra)  # fmt: skip
    if done.returncode != 0:
        sys.exit("%s failed:\n%s" % (label, done.stdout[-3000:]))
    hosts = json.loads((report_dir / "report.json").read_text())["hosts"]
    assert len(hosts) == len(lab.hosts), "report has %d hosts" % len(hosts)
    assert fleet_hash(lab) == before, "the audit changed a host"
    return seconds


def measure(count, args, work):
    """One fleet of ``count`` hosts: the figures of its row."""
    lab = Lab(prefix="bnaud", bridge="bnaudbr0", subnet="10.252.31")
    lab.down()
    try:
        free_before = mem_available_kib()
        started = time.perf_counter()
        lab.up(count)
        up_seconds = time.perf_counter() - started
        time.sleep(1)  # let the hosts settle before memory is read
        row = {"hosts": count, "up_s": up_seconds,
               "mem_kib_per_host": (free_before - mem_available_kib()) / count,
               "pss_kib_per_host": pss_kib(lab._lab_pids()) / count}  # fmt: skip
        progress("%d hosts up in %.1f s, %.0f KiB PSS per host" % (
            count, up_seconds, row["pss_kib_per_host"]))  # fmt: skip
        inventory = lab.write_inventory(
            {h.name: ROTATION[i % len(ROTATION)] for i, h in enumerate(lab.hosts)}
        )
        seconds, done = playbook(["netstack.keepalive.rollout", "-e",
                                  json.dumps({"keepalive_rollout_serial": ["100%"]})],
                                 inventory, args.forks, work)  # fmt: skip
        if done.returncode != 0:
            sys.exit("rollout failed:\n" + done.stdout[-3000:])
        row["rollout_s"] = seconds
        progress("rollout %.1f s (%.3f s/host)" % (seconds, seconds / count))
        runs = {"audit": [], "ping": []}
        for name in VARIANTS if args.variants else ():
            runs[name] = []
        for _round in range(args.repeat):
            runs["audit"].append(audit_once(lab, inventory, args, work, "audit"))
            for name, env_extra in VARIANTS.items() if args.variants else ():
                runs[name].append(audit_once(lab, inventory, args, work, name, env_extra))
            seconds, _done = playbook([str(REPO / "benchmarks" / "ping.yml")], inventory,
                                      args.forks, work)  # fmt: skip
            runs["ping"].append(seconds)
            progress("round: " + ", ".join("%s %.2f s" % (k, v[-1]) for k, v in runs.items()))
        row["runs"] = runs
        return row
    finally:
        lab.down()


def progress(text):
    """A line as each figure is measured (a long run can be read while it goes)."""
    print("  ... " + text, flush=True)


def print_row(row, forks, repeat):
    count = row["hosts"]
    print("\n== %d hosts, forks %d, rounds %d" % (count, forks, repeat))
    print("lab up %.1f s; memory per idle host: %.0f KiB (MemAvailable), %.0f KiB (PSS)"
          % (row["up_s"], row["mem_kib_per_host"], row["pss_kib_per_host"]))  # fmt: skip
    print("rollout %.2f s  (%.3f s/host)" % (row["rollout_s"], row["rollout_s"] / count))
    ping = statistics.median(row["runs"]["ping"])
    for name, runs in row["runs"].items():
        median = statistics.median(runs)
        print("%-22s median %6.2f s  (%.3f s/host)  x%.2f ping  runs %s" % (
            name, median, median / count, median / ping,
            ["%.2f" % s for s in runs]))  # fmt: skip
    print("audit / ping ratio %.2f" % (statistics.median(row["runs"]["audit"]) / ping))


def print_table(rows):
    print("\n hosts | audit s | audit s/host | ping s/host | ratio | rollout s/host | KiB/host")
    for row in rows:
        count = row["hosts"]
        audit = statistics.median(row["runs"]["audit"])
        ping = statistics.median(row["runs"]["ping"])
        print("%6d | %7.2f | %12.3f | %11.3f | %5.2f | %14.3f | %8.0f" % (
            count, audit, audit / count, ping / count, audit / ping,
            row["rollout_s"] / count, row["mem_kib_per_host"]))  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[20])
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", action="store_true",
                        help="also time the audit without pipelining and with "
                             "strategy free")  # fmt: skip
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    rows = []
    try:
        for count in args.hosts:
            rows.append(measure(count, args, work))
            print_row(rows[-1], args.forks, args.repeat)
            sys.stdout.flush()
        print_table(rows)
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()

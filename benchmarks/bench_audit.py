#!/usr/bin/env python
"""Benchmark the audit playbook on a lab fleet: wall time and seconds per host.

Run as root from the repository root with the dev venv:

    .venv/bin/python benchmarks/bench_audit.py [--hosts 20] [--forks 20] [--repeat 3]

Brings up ``--hosts`` namespace hosts (tests/lab), each with a profile and a path from a
rotation over three clouds and a proxy path, rolls the values out once, then times
``ansible-playbook netstack.keepalive.audit`` (check mode, adoption audit, verdicts and the
fleet report on the controller) ``--repeat`` times and prints the median wall time, the
seconds per host, and the same for a one-task ``ansible.builtin.ping`` play on the same hosts
(Ansible's own floor) with the ratio. Each audit run is checked: every host in report.json,
and no host changed (hashes of /etc/sysctl.d and the sysctls before and after). The lab is
always torn down, also on Ctrl-C.
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


def playbook(argv, inventory, forks, work):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path()),
               ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_PIPELINING="true",
               ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_HOME=str(work / "home"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(work / "cp"))  # fmt: skip
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lab = Lab(prefix="bnaud", bridge="bnaudbr0", subnet="10.252.31")
    lab.down()
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        lab.up(args.hosts)
        inventory = lab.write_inventory(
            {h.name: ROTATION[i % len(ROTATION)] for i, h in enumerate(lab.hosts)}
        )
        seconds, done = playbook(["netstack.keepalive.rollout", "-e",
                                  json.dumps({"keepalive_rollout_serial": ["100%"]})],
                                 inventory, args.forks, work)  # fmt: skip
        if done.returncode != 0:
            sys.exit("rollout failed:\n" + done.stdout[-3000:])
        print("rollout of %d hosts: %.1f s" % (args.hosts, seconds))
        audits, pings = [], []
        for round_number in range(args.repeat):
            before = fleet_hash(lab)
            report_dir = work / ("report-%d" % round_number)
            seconds, done = playbook(
                [
                    "netstack.keepalive.audit",
                    "-e",
                    json.dumps({"keepalive_report_dir": str(report_dir)}),
                ],
                inventory,
                args.forks,
                work,
            )
            hosts = json.loads((report_dir / "report.json").read_text())["hosts"]
            assert len(hosts) == args.hosts, "report has %d hosts" % len(hosts)
            assert fleet_hash(lab) == before, "the audit changed a host"
            audits.append(seconds)
            seconds, done = playbook([str(REPO / "benchmarks" / "ping.yml")], inventory,
                                     args.forks, work)  # fmt: skip
            pings.append(seconds)
        audit, ping = statistics.median(audits), statistics.median(pings)
        print("hosts %d, forks %d, rounds %d" % (args.hosts, args.forks, args.repeat))
        print("audit  median %.2f s  (%.3f s/host)  runs %s" % (
            audit, audit / args.hosts, ["%.2f" % s for s in audits]))  # fmt: skip
        print("ping   median %.2f s  (%.3f s/host)  runs %s" % (
            ping, ping / args.hosts, ["%.2f" % s for s in pings]))  # fmt: skip
        print("audit / ping ratio %.2f" % (audit / ping))
    finally:
        lab.down()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()

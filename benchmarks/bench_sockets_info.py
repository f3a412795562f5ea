#!/usr/bin/env python
"""Benchmark the keepalive adoption audit against ``ss -tanoep`` at 10k and 100k sockets.

Run as root from the repository root with the dev venv:

    .venv/bin/python benchmarks/bench_sockets_info.py [--sockets 10000 100000] [--repeat 3]

For each size it starts several worker processes on loopback that hold ``sockets / 2``
connections (both ends, keepalive mixed: off, on with the sysctl values, on with the
application's own values, and a listener whose accepted connections inherit them), then
times, on the same host in the same run:

- the module logic (audit with attribution and exact values + summary) in a fresh child
  Python, with its peak RSS, and the same without the reads of ``TCP_USER_TIMEOUT`` (one
  ``getsockopt`` per socket) and ``tcp_info`` (``INET_DIAG_INFO`` in the dump), alternating
  with it, so the cost of those reads is measured under the same load; the dump alone with
  and without ``tcp_info``;
- ``ansible localhost -m netstack.keepalive.keepalive_sockets_info`` (summary only), next to
  ``ansible localhost -m ping`` so Ansible's own start-up cost is visible;
- ``ss -tanoep`` with Python parsing of its output (what one would do without this module),
  and ``ss -tanoe`` (no process attribution) for reference.

Every worker is killed at the end (and when the benchmark itself is interrupted). Figures are
medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from _collection_path import collections_path  # noqa: E402

# The module as the role calls it (a path to check) and with a row per socket.
VARIANTS = (
    ("path (as the role calls it)", {"path": ["aws_nat_gateway"]}),
    ("details: true (a row per socket)", {"details": True}),
)
SOCKETS_PER_WORKER = 16000  # both ends of 8000 connections: below the fd hard limit here
APP_IDLE, APP_INTVL, APP_CNT = 600, 30, 4

AUDIT_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _procfd, _sockdiag, _sockets_info)
if sys.argv[3] == "without-new-reads":  # the audit before TCP_USER_TIMEOUT and tcp_info
    _procfd.READ_USER_TIMEOUT = False
    _sockdiag.REQUEST_INFO = False
def cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
# The module's own logic: report() is the whole module minus AnsibleModule, run with the
# module's defaults plus the options given (the role adds a path).
params = {name: spec.get("default") for name, spec in _sockets_info.ARGUMENT_SPEC.items()}
params.update(json.loads(sys.argv[2]))
before = cpu(resource.RUSAGE_SELF)
started = time.perf_counter()
result = _sockets_info.report(params)
elapsed = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so it would report the
# benchmark's own peak (it holds ss output) instead of this process's.
with open("/proc/self/status") as status:
    own_mb = [int(l.split()[1]) for l in status if l.startswith("VmHWM:")][0] / 1024.0
# The audit forks one scanning child per CPU: count their CPU time and memory too.
child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
summary = result["summary"]
exact = sum(row["count"] for row in summary if row["source"] == "getsockopt")
stalled = sum(row["retransmitting"] + row["probing"] for row in summary)
print(json.dumps({"elapsed": elapsed, "sockets": result["socket_count"], "exact": exact,
                  "stalled": stalled,
                  "cpu": cpu(resource.RUSAGE_SELF) - before + cpu(resource.RUSAGE_CHILDREN),
                  "rows": len(summary), "degraded": result["degraded"], "maxrss_mb": own_mb,
                  "child_maxrss_mb": child_mb, "verdicts": len(result.get("verdicts", []))}))
"""


# The inet_diag dump of every socket, with and without tcp_info: (seconds, sockets) medians.
DUMP_CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import _sockdiag
result = {}
for info in (False, True, False, True, False, True):
    _sockdiag.REQUEST_INFO = info
    started = time.perf_counter()
    count = len(_sockdiag.dump_tcp(["established", "listen"]))
    result.setdefault(str(info), []).append((time.perf_counter() - started, count))
print(json.dumps({k: [statistics.median(t for t, _n in v), v[-1][1]] for k, v in result.items()}))
"""


# ---------------------------------------------------------------- worker side
def worker(index, connections):
    """Hold ``connections`` loopback connections (both ends) until stdin closes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    address = "127.0.%d.%d" % (1 + index // 250, 2 + index % 250)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if index % 2:  # accepted connections inherit the listener's options
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, APP_IDLE)
    listener.bind((address, 0))
    listener.listen(4096)
    held = []
    for number in range(connections):
        client = socket.socket()
        kind = number % 3
        if kind:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if kind == 2:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, APP_IDLE)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, APP_INTVL)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, APP_CNT)
        client.connect(listener.getsockname())
        accepted, _peer = listener.accept()
        held.append((client, accepted))
    sys.stdout.write("ready %d\n" % len(held))
    sys.stdout.flush()
    sys.stdin.read()  # EOF when the benchmark ends or dies


# ---------------------------------------------------------------- benchmark side
class Workers:
    def __init__(self, sockets):
        connections = sockets // 2
        per_worker = SOCKETS_PER_WORKER // 2
        count = max(2, -(-connections // per_worker))
        self.procs = []
        base, extra = divmod(connections, count)
        for index in range(count):
            share = base + (1 if index < extra else 0)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", str(index), str(share)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
            )

    def wait_ready(self):
        for proc in self.procs:
            line = proc.stdout.readline()
            if not line.startswith("ready"):
                raise SystemExit("a worker failed to open its sockets (see stderr above)")

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                stream.close()


def run_audit_child(params=None, reads="all"):
    out = subprocess.run(
        [sys.executable, "-c", AUDIT_CHILD, str(collections_path()), json.dumps(params or {}),
         reads],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def run_dump_child():
    out = subprocess.run(
        [sys.executable, "-c", DUMP_CHILD, str(collections_path())],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def ansible_env():
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path())
    env["ANSIBLE_LOCALHOST_WARNING"] = "false"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "false"
    return env


def time_ansible(module):
    ansible = str(Path(sys.executable).with_name("ansible"))
    started = time.perf_counter()
    out = subprocess.run(
        [ansible, "localhost", "-m", module, "-o"],
        check=True, capture_output=True, text=True, env=ansible_env(),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if "SUCCESS" not in out.stdout:
        raise SystemExit("ansible %s failed: %s" % (module, out.stdout[:500]))
    result = json.loads(out.stdout.split("=>", 1)[1])
    return elapsed, len(out.stdout), result.get("elapsed")


_USERS = re.compile(r'\("([^"]*)",pid=(\d+),fd=(\d+)\)')
_TIMER = re.compile(r"timer:\((\w+),([^,]*),(\d+)\)")
_INODE = re.compile(r"ino:(\d+)")


def _cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_ss(flags):
    """Run ``ss`` and parse every line into the same facts the audit keys on.

    Returns (wall seconds, rows, CPU seconds of ss plus the parsing).
    """
    cpu_before = _cpu()
    started = time.perf_counter()
    out = subprocess.run(["ss", flags], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        timer = _TIMER.search(line)
        inode = _INODE.search(line)
        rows.append((
            fields[0], fields[3], fields[4],
            timer.group(1) if timer else None,
            int(inode.group(1)) if inode else None,
            [(n, int(p), int(f)) for n, p, f in _USERS.findall(line)],
        ))  # fmt: skip
    return time.perf_counter() - started, len(rows), _cpu() - cpu_before


def median_of(repeat, func):
    results = [func() for _round in range(repeat)]
    return results, statistics.median(
        r[0] if isinstance(r, tuple) else r["elapsed"] for r in results
    )


def bench(sockets, repeat):
    print("\n== %d sockets (%d loopback connections) ==" % (sockets, sockets // 2), flush=True)
    workers = Workers(sockets)
    try:
        started = time.perf_counter()
        workers.wait_ready()
        print(
            "setup: %d workers ready in %.1f s"
            % (len(workers.procs), time.perf_counter() - started)
        )
        # Audit and ss alternate so that both see the same load on a shared machine.
        audits, ss_runs, before = [], [], []
        for _round in range(repeat):
            before.append(run_audit_child(reads="without-new-reads"))
            audits.append(run_audit_child())
            ss_runs.append(time_ss("-tanoep"))
        audit_s = statistics.median(a["elapsed"] for a in audits)
        cpu_s = statistics.median(a["cpu"] for a in audits)
        ss_s = statistics.median(r[0] for r in ss_runs)
        ss_cpu = statistics.median(r[2] for r in ss_runs)
        rss = max(a["maxrss_mb"] for a in audits)
        child_rss = max(a["child_maxrss_mb"] for a in audits)
        last = audits[-1]
        print(
            "module logic (audit+summary): %.3f s wall, %.3f s CPU incl. its scanning children"
            % (audit_s, cpu_s)
        )
        print(
            "  peak RSS %.0f MB (+ %.0f MB in each scanning child); %d sockets, %d with exact "
            "values, %d summary rows"
            % (rss, child_rss, last["sockets"], last["exact"], last["rows"])
        )
        if last["degraded"]:
            print("  degraded: %s" % last["degraded"])
        before_s = statistics.median(a["elapsed"] for a in before)
        before_cpu = statistics.median(a["cpu"] for a in before)
        before_rss = max(a["maxrss_mb"] for a in before)
        print(
            "  without the TCP_USER_TIMEOUT and tcp_info reads (same run, alternating): "
            "%.3f s wall, %.3f s CPU, peak RSS %.0f MB -> the reads cost %+.3f s wall "
            "(%+.0f%%), %+.3f s CPU (%+.0f%%), %+.0f MB; %d sockets stalled now"
            % (before_s, before_cpu, before_rss, audit_s - before_s,
               100.0 * (audit_s - before_s) / before_s, cpu_s - before_cpu,
               100.0 * (cpu_s - before_cpu) / before_cpu, rss - before_rss, last["stalled"])
        )  # fmt: skip
        dump = run_dump_child()
        print(
            "  inet_diag dump alone (%d sockets): %.3f s without tcp_info, %.3f s with it"
            % (dump["True"][1], dump["False"][0], dump["True"][0])
        )
        print(
            "ss -tanoep + parsing: %.3f s wall, %.3f s CPU (%d rows)"
            % (ss_s, ss_cpu, ss_runs[-1][1])
        )
        print(
            "ratio ss -tanoep / module logic: %.1fx wall, %.1fx CPU"
            % (ss_s / audit_s, ss_cpu / cpu_s)
        )
        variants = {}
        for label, params in VARIANTS:
            runs = [run_audit_child(params) for _round in range(repeat)]
            variants[label] = statistics.median(a["elapsed"] for a in runs)
            print(
                "module logic with %s: %.3f s wall (%d verdicts)"
                % (label, variants[label], runs[-1]["verdicts"])
            )
        ss_plain_s = statistics.median(time_ss("-tanoe")[0] for _round in range(repeat))
        print("ss -tanoe + parsing (no process attribution): %.3f s" % ss_plain_s)
        _output, ping_s = median_of(repeat, lambda: time_ansible("ping"))
        runs, module_s = median_of(
            repeat, lambda: time_ansible("netstack.keepalive.keepalive_sockets_info")
        )
        inside = statistics.median(r[2] for r in runs)
        print(
            "ansible -m keepalive_sockets_info: %.2f s median (%d bytes of output; the module "
            "reports %.2f s of its own)" % (module_s, runs[-1][1], inside)
        )
        print("ansible -m ping (Ansible's own start-up): %.2f s" % ping_s)
        print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())
        return {
            "sockets": sockets, "module_logic_s": round(audit_s, 3),
            "module_cpu_s": round(cpu_s, 3), "peak_rss_mb": round(rss),
            "scan_child_rss_mb": round(child_rss),
            "ansible_s": round(module_s, 2), "module_inside_ansible_s": inside,
            "ansible_ping_s": round(ping_s, 2),
            "ss_tanoep_s": round(ss_s, 3), "ss_tanoe_s": round(ss_plain_s, 3),
            "ss_tanoep_cpu_s": round(ss_cpu, 3), "ratio_vs_ss_tanoep": round(ss_s / audit_s, 1),
            "cpu_ratio_vs_ss_tanoep": round(ss_cpu / cpu_s, 1), "loadavg_1m": os.getloadavg()[0],
            "module_logic_variants_s": {k: round(v, 3) for k, v in variants.items()},
            "module_logic_without_new_reads_s": round(before_s, 3),
            "module_cpu_without_new_reads_s": round(before_cpu, 3),
            "peak_rss_without_new_reads_mb": round(before_rss),
            "dump_s": {"without_tcp_info": round(dump["False"][0], 3),
                       "with_tcp_info": round(dump["True"][0], 3)},
        }  # fmt: skip
    finally:
        workers.stop()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sockets", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the audit reads other processes' sockets")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally blocks
    results = [bench(size, args.repeat) for size in args.sockets]
    print("\n" + json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

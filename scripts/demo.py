"""`make demo`: a lab fleet of real hosts, a rollout, an audit and the fleet report.

No inventory needed: five namespace hosts (own network namespace and keepalive sysctls, own
/etc, sshd) stand in for a fleet in three clouds plus a proxy path and one host nobody tuned.
Real services run on some of them: redis-server (sets SO_KEEPALIVE on its clients) and a
"legacy-app" that never does. The rollout tunes four hosts, canary first; the audit (check
mode) judges all five and writes the report; then the lab is torn down.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(0, str(REPO / "scripts"))

from _collection_path import collections_path  # noqa: E402
from lab import Lab  # noqa: E402

REPORT_DIR = Path(os.environ.get("KEEPALIVE_REPORT_DIR", REPO / "keepalive-report"))
# host -> (role, variables, services started on it)
FLEET = {
    "demo-h1": ("AWS: NLB + NAT gateway", {
        "tcp_keepalive_profile": "cloud",
        "tcp_keepalive_path": ["aws_nlb", "aws_nat_gateway"],
        "tcp_keepalive_require": [{"name": "redis-server", "states": ["established"]}],
    }, ["--redis", "6379:60"]),
    "demo-h2": ("Azure: Standard LB + NAT gateway, a database", {
        "tcp_keepalive_profile": "payments_db",
        "tcp_keepalive_profiles": {"payments_db": {"base": "database", "detect_within": 60}},
        "tcp_keepalive_path": ["azure_lb_standard", "azure_nat_gateway"],
    }, []),
    "demo-h3": ("GCP: Cloud NAT + VPC firewall", {
        "tcp_keepalive_profile": "cloud",
        "tcp_keepalive_path": ["gcp_cloud_nat", "gcp_vpc_firewall"],
    }, ["--redis", "6379:120"]),
    "demo-h4": ("A proxy path: HAProxy + a corporate firewall", {
        "tcp_keepalive_profile": "latency_sensitive",
        "tcp_keepalive_path": [{"id": "haproxy"}, {"name": "corp-fw", "idle_timeout": 900,
                                                   "layer": 4}],
    }, []),
    "demo-h5": ("Never tuned: behind an Azure NAT gateway, runs legacy-app", {
        "tcp_keepalive_profile": "cloud",
        "tcp_keepalive_path": ["azure_nat_gateway"],
        "tcp_keepalive_require": [{"name": "legacy-app", "states": ["established"]}],
    }, ["--legacy", "8080", "--redis", "6379:300"]),
}  # fmt: skip
ROLLOUT_HOSTS = "demo-h1:demo-h2:demo-h3:demo-h4"


def say(message):
    print("[demo %5.1fs] %s" % (time.monotonic() - START, message), flush=True)


def start_services(lab):
    script = (REPO / "scripts" / "demo_services.py").read_text()
    for name, (_role, _vars, args) in FLEET.items():
        if not args:
            continue
        command = "cat > /tmp/demo_services.py && python3 /tmp/demo_services.py %s" % " ".join(args)
        lab.run(name, command, check=True, input=script)
        say("%s: started %s" % (name, " ".join(args)))
    time.sleep(1.0)  # let redis accept the clients before the audit looks


def ansible_playbook(playbook, inventory, extra_vars, log):
    """Run a collection playbook; show PLAY/TASK lines as progress, keep the rest in ``log``."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path()),
               ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_FORKS="10",
               ANSIBLE_LOCAL_TEMP=str(REPO / ".cache" / "ansible-tmp"),
               ANSIBLE_DISPLAY_SKIPPED_HOSTS="false", ANSIBLE_NOCOLOR="1")  # fmt: skip
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), playbook,
            "-e", json.dumps(extra_vars)]  # fmt: skip
    with open(log, "w") as handle:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, cwd=REPO)  # fmt: skip
        for line in proc.stdout:
            handle.write(line)
            if line.startswith(("PLAY [", "TASK [")):
                say("  " + line.strip(" *\n"))
            elif line.startswith(("fatal:", "failed:")):
                say("  " + line.strip()[:200])
        return proc.wait()


def summary():
    report = json.loads((REPORT_DIR / "report.json").read_text())
    say("fleet: %s" % json.dumps(report.get("totals", report.get("counts"))))
    for host in report["hosts"]:
        values = host.get("runtime") or {}
        say("  %-8s %-4s time=%s intvl=%s probes=%s  %s" % (
            host["host"], host["status"], values.get("time"), values.get("intvl"),
            values.get("probes"), FLEET.get(host["host"], ("",))[0]))  # fmt: skip
        for problem in host.get("problems", [])[:3]:
            say("      - " + problem[:150])
    say("report: %s/report.html (also report.json, report.md, junit.xml)" % REPORT_DIR)


def main():
    lab = Lab(prefix="demo", bridge="demobr0", subnet="10.251.77")
    lab.down()  # a previous demo that was killed hard
    try:
        say("bringing up %d lab hosts (network namespaces with their own sysctls and sshd)"
            % len(FLEET))  # fmt: skip
        lab.up(len(FLEET))
        inventory = lab.write_inventory({name: spec[1] for name, spec in FLEET.items()})
        start_services(lab)
        logs = REPO / ".cache" / "demo"
        logs.mkdir(parents=True, exist_ok=True)
        say("rollout to %s: canary first, then batches" % ROLLOUT_HOSTS.replace(":", ", "))
        rc = ansible_playbook("netstack.keepalive.rollout", inventory, {
            "keepalive_hosts": ROLLOUT_HOSTS, "keepalive_rollout_serial": [1, 1, "100%"]},
            logs / "rollout.log")  # fmt: skip
        if rc != 0:
            say("rollout FAILED (exit %d); see %s" % (rc, logs / "rollout.log"))
            return rc
        say("audit of all hosts in check mode (changes nothing)")
        rc = ansible_playbook(
            "netstack.keepalive.audit",
            inventory,
            {"keepalive_report_dir": str(REPORT_DIR)},
            logs / "audit.log",
        )
        say("audit exit status %d (non-zero: a host has a failing verdict, as demo-h5 should)"
            % rc)  # fmt: skip
        summary()
        return 0 if rc in (0, 2) else rc
    finally:
        say("tearing the lab down")
        lab.down()


START = time.monotonic()

if __name__ == "__main__":
    sys.exit(main())

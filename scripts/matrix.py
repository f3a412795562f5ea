#!/usr/bin/env python
"""`make matrix`: the collection on every ansible-core it claims to support (meta/runtime.yml).

For each controller version (2.15, 2.17, 2.19; latest release of each, Python 3.11):
  venv     .cache/matrix/<version> from requirements/ansible-core-<version>.txt, reused while
           the file's sha256 matches the stamp in the venv (as scripts/setup.sh does for .venv)
  build    `ansible-galaxy collection build`, then `collection install` of that tarball into a
           temporary collections path; every later step uses only that installed copy
  doc      `ansible-doc` of every module, filter and the role renders without warning/error,
           and `ansible-doc -l` lists exactly the plugins the installed collection ships
  sysctl   keepalive_sysctl on a lab host: check mode changes nothing, a real change sets
           /proc/sys and writes the file, a second run is idempotent, state=absent reverts
  sockets  keepalive_sockets_info finds the lab host's own sshd listener with SO_KEEPALIVE info
  role     the role in audit mode and check mode: the host report judges the real values and
           nothing on the host changes
  report   the keepalive_report action on the controller writes every format into a temp dir
  filters  each keepalive_* filter on localhost, asserting a value
  sanity   `ansible-test sanity` (scripts/ansible-test.sh with this venv) on 2.15 and 2.19

Every version tests the same snapshot of the working tree (tracked and new, not ignored files,
as `make sanity` sees them), taken once at the start, so edits made while it runs do not mix
in. One lab host (tests/lab/lab.py, unique prefix and subnet) serves every version; it is always
taken down at the end, on failure and on Ctrl-C/SIGTERM too. Each step prints a line; the
end is a table version x check with pass/FAIL and seconds. Exit status 1 when any cell failed.
Logs of every step: .cache/matrix/logs/<version>-<check>.log.

    scripts/matrix.py [--versions 2.15,2.19] [--checks build,doc,...] [--no-sanity]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "matrix"
LOGS = CACHE / "logs"
LAB = REPO / "tests" / "lab" / "lab.py"
PYTHON = os.environ.get("PYTHON", "python3.11")

VERSIONS = ("2.15", "2.17", "2.19")
SANITY_VERSIONS = ("2.15", "2.19")  # oldest and newest
CHECKS = ("venv", "build", "doc", "sysctl", "sockets", "role", "report", "filters", "sanity")
LAB_CHECKS = {"sysctl", "sockets", "role"}
KEYS = ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")
OURS = "/etc/sysctl.d/90-netstack-keepalive.conf"
COLLECTION = "netstack.keepalive"
REPORT_FORMATS = ("json", "markdown", "html", "junit", "prometheus")


class CheckFailed(Exception):
    """A check did not hold; the message says what was found instead."""


def say(message):
    print("matrix: %s" % message, flush=True)


# ---------------------------------------------------------------------------------------------
# Running commands with a log


class Step:
    """One cell: runs commands, appends their output to its log, fails with a reason."""

    def __init__(self, version, check):
        self.version, self.check = version, check
        self.log = LOGS / ("%s-%s.log" % (version, check))
        self.log.write_text("")

    def run(self, argv, *, env=None, cwd=None, timeout=900, ok_codes=(0,)):
        argv = [str(a) for a in argv]
        with self.log.open("a") as log:
            log.write("\n$ %s\n" % " ".join(argv))
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CheckFailed("%s: timed out after %d s" % (" ".join(argv[:3]), timeout)) from exc
        with self.log.open("a") as log:
            log.write(proc.stdout)
            if proc.stderr:
                log.write("--- stderr\n" + proc.stderr)
            log.write("--- rc=%d\n" % proc.returncode)
        if proc.returncode not in ok_codes:
            raise CheckFailed(
                "%s exited %d: %s"
                % (
                    " ".join([Path(argv[0]).name] + argv[1:3]),
                    proc.returncode,
                    _last_error(proc.stdout + proc.stderr),
                )
            )
        return proc


def _last_error(text):
    """The most telling line of a failed command's output, for the step line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for marker in ("ERROR", "FAILED!", "fatal:", "Error", "error:"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1][:300]
    return (lines[-1] if lines else "(no output)")[:300]


def warnings_in(text):
    """Distinct [WARNING]/[DEPRECATION WARNING] lines (first line of each)."""
    found = []
    for line in text.splitlines():
        if "WARNING]" in line and line.strip() not in found:
            found.append(line.strip())
    return found


# ---------------------------------------------------------------------------------------------
# The tree under test


class Snapshot:
    """A copy of the working tree's tracked and new-but-not-ignored files, as a git repository
    (scripts/ansible-test.sh lists files through git), made once for the whole matrix."""

    def __init__(self):
        self.root = None

    @property
    def tree(self):
        return self.root / "keepalive"

    @property
    def plays(self):
        return self.tree / "tests" / "matrix"

    def take(self):
        self.root = Path(tempfile.mkdtemp(prefix="mxsrc-"))
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        count = 0
        for name in filter(None, listed.split("\0")):
            source = REPO / name
            if not source.is_file():  # deleted in the working tree, or a directory entry
                continue
            target = self.tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
            count += 1
        git = ["git", "-c", "user.email=matrix@localhost", "-c", "user.name=matrix"]
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot"]):
            subprocess.run(git + argv, cwd=self.tree, capture_output=True, check=True)
        return count

    def remove(self):
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)


SNAPSHOT = Snapshot()


# ---------------------------------------------------------------------------------------------
# Venvs


def requirements_file(version):
    return REPO / "requirements" / ("ansible-core-%s.txt" % version)


def venv_dir(version):
    return CACHE / version


def check_venv(step):
    req = requirements_file(step.version)
    venv = venv_dir(step.version)
    stamp = venv / ".requirements.sha256"
    want = hashlib.sha256(req.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        note = "reused"
    else:
        if venv.exists():
            shutil.rmtree(venv)
        step.run([PYTHON, "-m", "venv", venv])
        step.run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", req],
            timeout=1200,
        )
        stamp.write_text(want + "\n")
        note = "installed from %s" % req.relative_to(REPO)
    pinned = re.search(r"^ansible-core==(\S+)", req.read_text(), re.M).group(1)
    got = step.run([venv / "bin" / "ansible", "--version"]).stdout
    first = got.splitlines()[0]
    if "core %s]" % pinned not in first:
        raise CheckFailed("venv has %r, %s pins %s" % (first, req.name, pinned))
    python_line = next(line for line in got.splitlines() if "python version" in line)
    if "3.11" not in python_line:
        raise CheckFailed("controller Python is not 3.11: %s" % python_line.strip())
    return "%s; %s" % (note, first.strip())


# ---------------------------------------------------------------------------------------------
# Build and install


class Controller:
    """One ansible-core version: its venv, a temp collections path, an environment."""

    def __init__(self, version, lab):
        self.version = version
        self.bin = venv_dir(version) / "bin"
        self.tmp = Path(tempfile.mkdtemp(prefix="mx%s-" % version.replace(".", "")))
        self.collections = self.tmp / "collections"
        self.installed = self.collections / "ansible_collections" / "netstack" / "keepalive"
        self.out = self.tmp / "out"
        self.out.mkdir()
        self.lab = lab
        self.env = dict(os.environ)
        for key in [k for k in self.env if k.startswith("ANSIBLE_")]:
            del self.env[key]
        self.env.update(
            {
                "PATH": "%s:%s" % (self.bin, os.environ.get("PATH", "")),
                "ANSIBLE_HOME": str(self.tmp / "home"),
                "ANSIBLE_LOCAL_TEMP": str(self.tmp / "localtmp"),
                "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
                "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
                "ANSIBLE_ROLES_PATH": str(self.tmp / "roles"),
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.tmp / "cp"),
                "ANSIBLE_HOST_KEY_CHECKING": "False",
                "ANSIBLE_PIPELINING": "True",
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_RETRY_FILES_ENABLED": "False",
                "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
            }
        )

    def tool(self, name):
        return self.bin / name

    def playbook(self, step, name, inventory=None, extra=None):
        extra_vars = {"matrix_out": str(self.out), "matrix_version": self.version}
        extra_vars.update(extra or {})
        argv = [self.tool("ansible-playbook"), "-i", inventory or "localhost,"]
        argv += ["-e", json.dumps(extra_vars), SNAPSHOT.plays / name]
        # cwd outside the repository: no ansible.cfg, no adjacent collections from the tree
        proc = step.run(argv, env=self.env, cwd=self.tmp, timeout=600)
        recap = re.findall(
            r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
            r"\s+skipped=(\d+)",
            proc.stdout,
            re.M,
        )
        if not recap:
            raise CheckFailed("%s: no play recap in the output" % name)
        for host, _ok, _changed, unreachable, failed, _skipped in recap:
            if int(unreachable) or int(failed):
                raise CheckFailed(
                    "%s: %s failed=%s unreachable=%s" % (name, host, failed, unreachable)
                )
        tasks = sum(int(r[1]) for r in recap)
        warns = warnings_in(proc.stderr + proc.stdout)
        return tasks, warns

    def stop_ssh_masters(self):
        for sock in (self.tmp / "cp").glob("*"):
            subprocess.run(
                ["ssh", "-O", "exit", "-o", "ControlPath=%s" % sock, "x"],
                capture_output=True,
                timeout=10,
                check=False,
            )

    def cleanup(self):
        self.stop_ssh_masters()
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_build(step, ctl):
    dist = ctl.tmp / "dist"
    step.run(
        [ctl.tool("ansible-galaxy"), "collection", "build", "--output-path", dist, SNAPSHOT.tree],
        env=ctl.env,
        cwd=ctl.tmp,
    )
    tarballs = sorted(dist.glob("netstack-keepalive-*.tar.gz"))
    if len(tarballs) != 1:
        raise CheckFailed("expected one tarball in %s, found %s" % (dist, tarballs))
    step.run(
        [ctl.tool("ansible-galaxy"), "collection", "install", "-p", ctl.collections, tarballs[0]],
        env=ctl.env,
        cwd=ctl.tmp,
    )
    if not (ctl.installed / "MANIFEST.json").exists():
        raise CheckFailed("no MANIFEST.json in %s after install" % ctl.installed)
    if ctl.installed.is_symlink() or (ctl.installed / "tests" / "output").exists():
        raise CheckFailed("installed copy is not a plain extracted tarball")
    listing = step.run(
        [ctl.tool("ansible-galaxy"), "collection", "list", COLLECTION, "--format", "json"],
        env=ctl.env,
        cwd=ctl.tmp,
    ).stdout
    found = {path: cols for path, cols in json.loads(listing).items() if COLLECTION in cols}
    if list(found) != [str(ctl.collections / "ansible_collections")]:
        raise CheckFailed(
            "ansible sees netstack.keepalive in %s, want only the temp path" % list(found)
        )
    version = found[str(ctl.collections / "ansible_collections")][COLLECTION]["version"]
    size = tarballs[0].stat().st_size // 1024
    return "%s (%d KiB) installed into the temp path, version %s" % (
        tarballs[0].name,
        size,
        version,
    )


# ---------------------------------------------------------------------------------------------
# ansible-doc


def shipped_plugins(installed):
    """What the installed collection ships, by ansible-doc type (FQCNs)."""
    modules = sorted(
        p.stem
        for p in (installed / "plugins" / "modules").glob("*.py")
        if not p.name.startswith("_")
    )
    # One plugin file per filter, named after it (its DOCUMENTATION says the same name).
    filters = sorted(
        p.stem
        for p in (installed / "plugins" / "filter").glob("*.py")
        if not p.name.startswith("_")
    )
    roles = sorted(p.name for p in (installed / "roles").iterdir() if p.is_dir())
    fq = "%s.%%s" % COLLECTION
    return {
        "module": [fq % m for m in modules],
        "filter": [fq % f for f in filters],
        "role": [fq % r for r in roles],
    }


def check_doc(step, ctl):
    plugins = shipped_plugins(ctl.installed)
    doc = ctl.tool("ansible-doc")
    rendered = 0
    for kind, names in plugins.items():
        if not names:
            raise CheckFailed("the installed collection ships no %s" % kind)
        for name in names:
            proc = step.run([doc, "-t", kind, name], env=ctl.env, cwd=ctl.tmp)
            problems = warnings_in(proc.stderr) + [
                line for line in proc.stderr.splitlines() if "ERROR" in line
            ]
            if problems:
                raise CheckFailed("ansible-doc -t %s %s: %s" % (kind, name, problems[0]))
            if name.lower() not in proc.stdout.lower() or len(proc.stdout) < 300:
                raise CheckFailed("ansible-doc -t %s %s rendered no page" % (kind, name))
            rendered += 1
        listing = step.run(
            [doc, "-t", kind, "-l", COLLECTION, "--json"], env=ctl.env, cwd=ctl.tmp
        ).stdout
        data = json.loads(listing)
        if kind == "role":  # {name: {...}} in every version, name short or fully qualified
            listed = sorted(n if "." in n else "%s.%s" % (COLLECTION, n) for n in data)
        else:
            listed = sorted(data)
        if listed != sorted(names):
            raise CheckFailed(
                "ansible-doc -t %s -l lists %s, the collection ships %s" % (kind, listed, names)
            )
    return "%d pages rendered (%s), listings complete" % (
        rendered,
        ", ".join("%d %s" % (len(v), k) for k, v in plugins.items()),
    )


# ---------------------------------------------------------------------------------------------
# The lab host


class LabHost:
    def __init__(self):
        self.prefix = "mx" + uuid.uuid4().hex[:5]
        self.subnet = free_subnet()
        self.common = ["--prefix", self.prefix, "--subnet", self.subnet]
        self.name = "%s-h1" % self.prefix
        self.inventory = None
        self.is_up = False

    def cli(self, *args, check=True, timeout=120):
        argv = [sys.executable, LAB, *self.common, *args]
        proc = subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise CheckFailed(
                "lab.py %s: rc=%d %s"
                % (" ".join(map(str, args)), proc.returncode, proc.stderr.strip())
            )
        return proc

    def up(self):
        self.is_up = True  # even a half-made lab is taken down
        self.cli("up", "1")
        self.inventory = self.cli("inventory").stdout.strip().splitlines()[-1]

    def down(self):
        if self.is_up:
            self.cli("down", check=False)
            self.is_up = False

    def state(self):
        """The host's three sysctls and whether our sysctl.d file exists, read without ssh."""
        script = "cd /proc/sys/net/ipv4 && cat %s && { test -e %s && echo present || echo absent; }"
        out = self.cli("run", self.name, "sh", "-c", script % (" ".join(KEYS), OURS)).stdout
        lines = out.split()
        return {"values": [int(v) for v in lines[:3]], "file": lines[3]}


def free_subnet():
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=True
    ).stdout
    used = set(re.findall(r"\b(10\.\d+\.\d+)\.\d+", routes))
    candidates = ["10.%d.%d" % (b, c) for b in range(200, 250) for c in range(256)]
    random.shuffle(candidates)
    return next(s for s in candidates if s not in used)


def expect_host_unchanged(lab, before, what):
    after = lab.state()
    if after != before:
        raise CheckFailed("%s changed the host: %s -> %s" % (what, before, after))


def check_sysctl(step, ctl):
    lab = ctl.lab
    before = lab.state()
    if before["file"] != "absent":
        raise CheckFailed("lab host already has %s before the test" % OURS)
    tasks, warns = ctl.playbook(step, "sysctl.yml", lab.inventory)
    # The play asserted check mode, the change, idempotence and the revert from inside; this
    # is the outside view (nsenter, no ssh): the host is as it was.
    expect_host_unchanged(lab, before, "sysctl.yml (which must revert its change)")
    return "%d tasks ok; check mode, change, idempotent re-run and revert held%s" % (
        tasks,
        _warn_note(warns),
    )


def check_sockets(step, ctl):
    before = ctl.lab.state()
    tasks, warns = ctl.playbook(step, "sockets_info.yml", ctl.lab.inventory)
    expect_host_unchanged(ctl.lab, before, "sockets_info.yml")
    return "%d tasks ok; sshd listener on :22 found%s" % (tasks, _warn_note(warns))


def check_role(step, ctl):
    before = ctl.lab.state()
    tasks, warns = ctl.playbook(step, "role_audit.yml", ctl.lab.inventory)
    expect_host_unchanged(ctl.lab, before, "the role in check mode")
    report = json.loads((ctl.out / "host_report.json").read_text())
    if report["host"] != ctl.lab.name or report["mode"] != "audit":
        raise CheckFailed("host report of %r in mode %r" % (report["host"], report["mode"]))
    return "%d tasks ok; host report %s, host unchanged%s" % (
        tasks,
        report["status"],
        _warn_note(warns),
    )


def check_report(step, ctl):
    host_report = ctl.out / "host_report.json"
    if not host_report.exists():  # the role step did not run: a minimal host report will do
        host_report.write_text(json.dumps({"host": "matrix-h1"}))
    host = json.loads(host_report.read_text())["host"]
    tasks, warns = ctl.playbook(step, "report.yml", extra={"matrix_formats": REPORT_FORMATS})
    dest = ctl.out / "report"
    doc = json.loads((dest / "report.json").read_text())
    if [h["host"] for h in doc["hosts"]] != [host]:
        raise CheckFailed("report.json hosts: %s" % [h["host"] for h in doc["hosts"]])
    junit = ET.parse(dest / "junit.xml").getroot()
    if junit.find(".//testcase") is None:
        raise CheckFailed("junit.xml has no testcase")
    for name in ("report.md", "report.html", "%s.prom" % host):
        text = (dest / name).read_text()
        if host not in text:
            raise CheckFailed("%s does not name the host %s" % (name, host))
    files = sorted(p.name for p in dest.iterdir())
    return "%d tasks ok; wrote %s%s" % (tasks, ", ".join(files), _warn_note(warns))


def check_filters(step, ctl):
    shipped = shipped_plugins(ctl.installed)["filter"]
    named = set(
        re.findall(
            r"netstack\.keepalive\.keepalive_\w+", (SNAPSHOT.plays / "filters.yml").read_text()
        )
    )
    untested = sorted(set(shipped) - named)
    if untested:
        raise CheckFailed(
            "the collection ships filters tests/matrix/filters.yml does not exercise: %s"
            % ", ".join(untested)
        )
    extra = {"matrix_collection": str(ctl.installed), "matrix_filters": shipped}
    tasks, warns = ctl.playbook(step, "filters.yml", extra=extra)
    return "%d tasks ok; %d filters asserted%s" % (tasks, len(shipped), _warn_note(warns))


def check_sanity(step, ctl):
    env = dict(os.environ)
    env["ANSIBLE_TEST_VENV"] = str(venv_dir(step.version))
    env["ANSIBLE_TEST_SOURCE"] = str(SNAPSHOT.tree)
    env["PATH"] = "%s:%s" % (venv_dir(step.version) / "bin", env.get("PATH", ""))
    proc = step.run(
        ["bash", REPO / "scripts" / "ansible-test.sh", "sanity"],
        env=env,
        timeout=1500,
        ok_codes=(0, 1),
    )
    text = proc.stdout + proc.stderr
    ran = re.findall(r'^Running sanity test "([^"]+)"', text, re.M)
    issues = sanity_issues(text)
    SANITY_ISSUES[step.version] = issues
    if proc.returncode != 0:
        failed = re.findall(
            r"^FATAL: The \d+ sanity test\(s\) listed below.*\n((?:\S+.*\n)+)", text, re.M
        )
        names = failed[0].split("\n")[:-1] if failed else []
        names = [n for n in names if re.fullmatch(r"[a-z0-9-]+( --python [0-9.]+)?", n)]
        raise CheckFailed(
            "%d of %d tests failed (%s), %d issues; first: %s"
            % (len(names), len(ran), ", ".join(names), len(issues), issues[0] if issues else "-")
        )
    return "%d sanity tests passed" % len(ran)


SANITY_ISSUES = {}  # version -> ["test: path:line:col: message"]


def sanity_issues(text):
    """Each ``ERROR: path:line:col: message`` of a sanity run, prefixed by its test's name."""
    issues, test = [], None
    for line in text.splitlines():
        match = re.match(r'Running sanity test "([^"]+)"', line)
        if match:
            test = match.group(1)
        match = re.match(r"ERROR: (\S+:\d+:\d+: .*)", line)
        if match:
            issues.append("%s: %s" % (test, match.group(1)))
    return issues


def print_sanity_difference():
    """What the oldest ansible-core's sanity finds that the newest does not, and vice versa."""
    old, new = SANITY_VERSIONS[0], SANITY_VERSIONS[-1]
    if old not in SANITY_ISSUES or new not in SANITY_ISSUES:
        return

    def key(issue):  # test, file and message: line numbers may differ between the versions
        return re.sub(r":\d+:\d+: ", ": ", issue, count=1)

    def test_and_file(issue):
        return issue.split(":", 2)[:2]

    for mine, other in ((old, new), (new, old)):
        theirs = {key(i) for i in SANITY_ISSUES[other]}
        only = [i for i in SANITY_ISSUES[mine] if key(i) not in theirs]
        say("sanity issues on %s only: %d" % (mine, len(only)))
        for issue in only:
            alike = [i for i in SANITY_ISSUES[other] if test_and_file(i) == test_and_file(issue)]
            note = (
                " (%s reports this file in this test too: %s)" % (other, alike[0]) if alike else ""
            )
            say("  %s%s" % (issue, note))


def _warn_note(warns):
    return "; warnings: %s" % " | ".join(w[:160] for w in warns) if warns else ""


RUNNERS = {
    "build": check_build,
    "doc": check_doc,
    "sysctl": check_sysctl,
    "sockets": check_sockets,
    "role": check_role,
    "report": check_report,
    "filters": check_filters,
    "sanity": check_sanity,
}


# ---------------------------------------------------------------------------------------------
# Main


def _run_check(check, ctl, step):
    return RUNNERS[check](step, ctl)


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--versions", default=",".join(VERSIONS))
    parser.add_argument("--checks", default=",".join(CHECKS))
    parser.add_argument("--no-sanity", action="store_true", help="leave ansible-test out")
    args = parser.parse_args(argv)
    args.versions = [v for v in args.versions.split(",") if v]
    args.checks = [c for c in args.checks.split(",") if c]
    for v in args.versions:
        if v not in VERSIONS:
            parser.error("version %s: choose from %s" % (v, ", ".join(VERSIONS)))
    for c in args.checks:
        if c not in CHECKS:
            parser.error("check %s: choose from %s" % (c, ", ".join(CHECKS)))
    if "venv" not in args.checks:
        args.checks.insert(0, "venv")  # every other check needs it
    if "build" not in args.checks and set(args.checks) - {"venv", "sanity"}:
        args.checks.insert(1, "build")  # plays and docs use the installed tarball
    if args.no_sanity and "sanity" in args.checks:
        args.checks.remove("sanity")
    return args


def _terminate(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def run_cell(version, check, results, runner):
    step = Step(version, check)
    started = time.monotonic()
    try:
        detail = runner(step)
        status = "pass"
    except CheckFailed as exc:
        detail, status = str(exc), "FAIL"
    except Exception as exc:  # a bug or a surprise in the output: still a failed cell
        detail, status = "%s: %s" % (type(exc).__name__, exc), "FAIL"
    seconds = time.monotonic() - started
    results[version, check] = (status, seconds)
    say("%-5s %-8s %-4s %6.1f s  %s" % (version, check, status, seconds, detail))
    if status != "pass":
        say("      log: %s" % step.log.relative_to(REPO))
    return status == "pass"


def print_table(versions, checks, results, total):
    width = 12
    header = "| ansible-core | " + " | ".join("%-*s" % (width, c) for c in checks) + " |"
    print("\n" + header)
    print(
        "|"
        + "|".join("-" * (len(part) + 2) for part in [" " * 12] + [" " * width] * len(checks))
        + "|"
    )
    for v in versions:
        cells = []
        for c in checks:
            if (v, c) in results:
                status, seconds = results[v, c]
                cells.append("%-*s" % (width, "%s %.1fs" % (status, seconds)))
            else:
                cells.append("%-*s" % (width, "-"))
        print("| %-12s | %s |" % (v, " | ".join(cells)))
    failed = sorted("%s/%s" % key for key, (status, _s) in results.items() if status != "pass")
    print(
        "\nmatrix: %d cells, %d failed%s; total %.1f s"
        % (len(results), len(failed), (" (%s)" % ", ".join(failed)) if failed else "", total)
    )


def main(argv=None):
    args = _parse(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    results = {}
    lab = LabHost() if LAB_CHECKS & set(args.checks) else None
    interrupted = False
    try:
        t0 = time.monotonic()
        count = SNAPSHOT.take()
        say("snapshot of the working tree: %d files in %.1f s" % (count, time.monotonic() - t0))
        if lab:
            if os.geteuid() != 0:
                say("the lab host needs root (network namespaces); run as root")
                return 1
            t0 = time.monotonic()
            try:
                lab.up()
                say(
                    "lab host %s (%s.2) up in %.1f s"
                    % (lab.name, lab.subnet, time.monotonic() - t0)
                )
            except CheckFailed as exc:
                say("lab: %s" % exc)
                for v in args.versions:
                    for c in LAB_CHECKS & set(args.checks):
                        results[v, c] = ("FAIL", 0.0)
                lab.down()
                lab = None
        for version in args.versions:
            ctl = None
            try:
                ok = run_cell(version, "venv", results, check_venv)
                if not ok:
                    continue
                ctl = Controller(version, lab)
                built = True
                for check in args.checks:
                    if check == "venv" or (version, check) in results:
                        continue
                    if check == "sanity" and version not in SANITY_VERSIONS:
                        continue
                    if check != "sanity" and not built:
                        results[version, check] = ("FAIL", 0.0)
                        say("%-5s %-8s FAIL    0.0 s  not run: the build failed" % (version, check))
                        continue
                    passed = run_cell(
                        version, check, results, functools.partial(_run_check, check, ctl)
                    )
                    if check == "build" and not passed:
                        built = False
            finally:
                if ctl:
                    ctl.cleanup()
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted")
    finally:
        if lab:
            lab.down()
            say("lab host %s down" % lab.name)
        SNAPSHOT.remove()
    print_sanity_difference()
    print_table(args.versions, args.checks, results, time.monotonic() - started)
    if interrupted:
        return 130
    return 0 if results and all(s == "pass" for s, _t in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

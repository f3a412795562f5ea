"""Fixtures for integration tests against the lab of namespace hosts (tests/lab).

- ``lab``: a module-scoped, running ``Lab`` whose names, subnet and state dir are unique to
  this pytest run (and module); ``LAB_HOSTS = N`` in a test module asks for N hosts (3).
  Always torn down, also when the module's tests fail.
- ``ansible_playbook`` / ``ansible_module``: run ``.venv/bin/ansible-playbook`` /
  ``.venv/bin/ansible`` against the lab inventory and return an ``AnsibleRun`` with one
  ``TaskResult`` per host and task (recorded by ``callback_plugins/json_results.py``).
- a session guard: whatever network namespace, link or lab process this run created and did
  not remove fails the run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
sys.path.insert(0, str(REPO_ROOT / "tests" / "lab"))

import lab as lab_module  # noqa: E402  (needs the sys.path entry above)

# Every lab of this run has a prefix starting with this token: that is how the guard tells
# our leftovers from those of other jobs running on the same machine at the same time.
SESSION_TOKEN = "t" + uuid.uuid4().hex[:4]


# ---------------------------------------------------------------------------------------------
# Unique lab parameters


def _used_subnets():
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=True
    ).stdout
    used = set()
    for line in routes.split("\n"):
        for word in line.split():
            parts = word.split("/")[0].split(".")
            if len(parts) == 4 and all(p.isdigit() for p in parts):
                used.add(".".join(parts[:3]))
    return used


def free_subnet():
    """A /24 in 10.200-249.x that nothing on this machine routes yet, picked at random so two
    parallel runs are unlikely to race for the same one (``Lab.up`` refuses a taken one)."""
    used = _used_subnets()
    candidates = ["10.%d.%d" % (b, c) for b in range(200, 250) for c in range(256)]
    random.shuffle(candidates)
    return next(s for s in candidates if s not in used)


_lab_counter = iter(range(1, 10**6))


def new_lab_params():
    """Parameters for one more lab of this run: prefix, bridge, subnet, state dir."""
    prefix = "%s%d" % (SESSION_TOKEN, next(_lab_counter))
    return {
        "prefix": prefix,
        "bridge": prefix + "br0",
        "subnet": free_subnet(),
        "state_dir": str(REPO_ROOT / ".cache" / "lab" / prefix),
    }


@pytest.fixture
def unique_lab_params():
    """A function returning fresh, collision-free parameters for a lab of this run (for tests
    that drive ``tests/lab/lab.py`` themselves)."""
    return new_lab_params


# ---------------------------------------------------------------------------------------------
# Session guard


def _footprint():
    """Network namespaces, links and lab processes present now."""
    netns = set(lab_module._netns_names())
    links = set(lab_module._link_names())
    processes = set()
    for pid in lab_module._pids():
        env = lab_module._environ(pid)
        if lab_module.HOST_ENV in env and lab_module._is_alive(pid):
            processes.add("%d:%s" % (pid, env[lab_module.HOST_ENV]))
    return {"netns": netns, "links": links, "lab processes": processes}


def _terminate(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session", autouse=True)
def leftover_guard():
    """Fail the run if anything this run created (namespaces, veths, bridges, lab hosts)
    is still there at the end. New things of other jobs are only reported."""
    before = _footprint()
    # A CI timeout or `kill` sends SIGTERM, which would end pytest without any teardown:
    # turn it into KeyboardInterrupt, on which pytest still tears every fixture down.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
    after = _footprint()
    ours, foreign = {}, {}
    for kind, items in after.items():
        for item in sorted(items - before[kind]):
            name = item.split(":", 1)[-1]
            (ours if name.startswith(SESSION_TOKEN) else foreign).setdefault(kind, []).append(item)
    if foreign:
        warnings.warn(
            "appeared during this run, not made by it (another job?): %s" % foreign, stacklevel=1
        )
    assert not ours, "this test run left behind: %s" % ours


# ---------------------------------------------------------------------------------------------
# The lab


@pytest.fixture(scope="session")
def ansible_dir(tmp_path_factory):
    """Private ANSIBLE_HOME, local temp and ssh control sockets for this run."""
    return tmp_path_factory.mktemp("ansible")


def _stop_ssh_masters(control_dir):
    # Ansible's ssh ControlPersist masters would outlive the hosts by 60 s.
    for sock in Path(control_dir).glob("*"):
        subprocess.run(
            ["ssh", "-O", "exit", "-o", "ControlPath=%s" % sock, "lab"],
            capture_output=True,
            timeout=10,
            check=False,
        )


@pytest.fixture(scope="module")
def lab(request, ansible_dir):
    """A running lab with ``LAB_HOSTS`` (module attribute, default 3) hosts."""
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (network namespaces, mounts, veths); run as root")
    count = getattr(request.module, "LAB_HOSTS", 3)
    the_lab = lab_module.Lab(**new_lab_params())
    try:
        the_lab.up(count)
        yield the_lab
    finally:
        _stop_ssh_masters(ansible_dir / "cp")
        the_lab.down()


# ---------------------------------------------------------------------------------------------
# Running Ansible


@dataclass
class TaskResult:
    """One task on one host: status is ok, changed, failed, unreachable or skipped."""

    host: str
    task: str
    action: str | None
    status: str
    result: dict = field(repr=False)

    @property
    def changed(self):
        return bool(self.result.get("changed"))

    @property
    def failed(self):
        return self.status in ("failed", "unreachable")

    @property
    def msg(self):
        return self.result.get("msg")

    @property
    def rc(self):
        return self.result.get("rc")

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)


@dataclass
class AnsibleRun:
    """A finished ansible(-playbook) process and its task results, in order."""

    argv: list
    rc: int
    stdout: str
    stderr: str
    results: list

    def host(self, name):
        return [r for r in self.results if r.host == name]

    @property
    def by_host(self):
        """host -> its last TaskResult (what a single ad-hoc module run gives)."""
        return {r.host: r for r in self.results}

    def task(self, name, host):
        """The last result of task ``name`` on ``host`` (KeyError when it did not run)."""
        for result in reversed(self.results):
            if result.task == name and result.host == host:
                return result
        raise KeyError("task %r did not run on %s\n%s" % (name, host, self))

    def __str__(self):
        return "%s -> rc=%d\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(map(str, self.argv)),
            self.rc,
            self.stdout,
            self.stderr,
        )


def _ansible_env(ansible_dir, results_file):
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_HOME": str(ansible_dir / "home"),
            "ANSIBLE_LOCAL_TEMP": str(ansible_dir / "tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(ansible_dir / "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_FORKS": "10",
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "json_results",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "True",  # callbacks for ad-hoc `ansible` too
            "NETSTACK_RESULTS_FILE": str(results_file),
        }
    )
    return env


def _run_ansible(argv, ansible_dir, timeout):
    executable = VENV_BIN / argv[0]
    if not executable.exists():
        pytest.fail("%s is missing: run the project set-up (make setup) first" % executable)
    results_file = ansible_dir / ("results-%s.jsonl" % uuid.uuid4().hex)
    argv = [str(executable)] + [str(a) for a in argv[1:]]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=_ansible_env(ansible_dir, results_file),
        check=False,  # the caller asserts on rc and output
    )
    results = []
    if results_file.exists():
        for line in results_file.read_text().splitlines():
            record = json.loads(line)
            results.append(
                TaskResult(
                    record["host"],
                    record["task"],
                    record["action"],
                    record["status"],
                    record["result"],
                )
            )
        results_file.unlink()
    return AnsibleRun(argv, proc.returncode, proc.stdout, proc.stderr, results)


def _common_options(inventory, limit, extra_vars, check, diff, verbosity):
    argv = ["-i", inventory]
    if limit:
        argv += ["--limit", limit if isinstance(limit, str) else ",".join(limit)]
    if extra_vars:
        argv += ["--extra-vars", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if verbosity:
        argv.append("-" + "v" * verbosity)
    return argv


@pytest.fixture(scope="module")
def ansible_playbook(lab, ansible_dir, tmp_path_factory):
    """``ansible_playbook(playbook, limit=, extra_vars=, check=, diff=, inventory=)``.

    ``playbook`` is a path or a list of plays (Python data, written out as YAML/JSON).
    """
    plays_dir = tmp_path_factory.mktemp("plays")

    def run(
        playbook,
        *,
        limit=None,
        extra_vars=None,
        check=False,
        diff=False,
        inventory=None,
        verbosity=0,
        timeout=300,
    ):
        if not isinstance(playbook, (str, Path)):
            path = plays_dir / ("play-%s.yml" % uuid.uuid4().hex[:8])
            path.write_text(json.dumps(playbook, indent=2))
            playbook = path
        argv = ["ansible-playbook"] + _common_options(
            inventory or lab.inventory_path, limit, extra_vars, check, diff, verbosity
        )
        return _run_ansible(argv + [playbook], ansible_dir, timeout)

    return run


@pytest.fixture(scope="module")
def ansible_module(lab, ansible_dir):
    """``ansible_module(module, args=None, pattern="lab", check=, diff=, ...)``; ``args`` a
    dict or a free-form string. Use ``.by_host`` of the returned run."""

    def run(
        module,
        args=None,
        *,
        pattern="lab",
        limit=None,
        extra_vars=None,
        check=False,
        diff=False,
        inventory=None,
        verbosity=0,
        timeout=300,
    ):
        argv = ["ansible", pattern, "-m", module] + _common_options(
            inventory or lab.inventory_path, limit, extra_vars, check, diff, verbosity
        )
        if args is not None:
            argv += ["-a", json.dumps(args) if isinstance(args, dict) else args]
        return _run_ansible(argv, ansible_dir, timeout)

    return run

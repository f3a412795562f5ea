"""Run a module through ``ansible-playbook`` on localhost, several argument sets in one go.

One playbook run costs about a second of Ansible start-up; the cases share it. Each case is a
task with ``ignore_errors`` so a failing case (an expected ``fail_json``) is recorded and the
others still run; the last task saves every registered result as JSON for the test to read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ._cgroup import UnitCgroup
from ._launch import Daemon, ServiceError

# A managed host runs modules with its system Python, not our venv's.
MANAGED_PYTHON = "/usr/bin/python3"


def ansible_playbook() -> str:
    """The repo venv's ansible-playbook (next to the interpreter running the tests)."""
    path = Path(sys.executable).with_name("ansible-playbook")
    if not path.exists():
        raise ServiceError(f"{path} is missing: run `make setup` to create the venv")
    return str(path)


def run_module_cases(
    module: str, cases: dict, workdir: Path, cgroup: UnitCgroup, timeout: float = 300
) -> dict:
    """``cases``: ``{name: (module_args, check_mode)}`` -> ``{name: registered result}``.

    ansible-playbook runs in ``cgroup``: its workers detach into sessions of their own, so
    only the cgroup reliably ends all of them on a timeout.
    """
    results = workdir / "module-results.json"
    playbook = workdir / "module-cases.yml"
    playbook.write_text(json.dumps(_playbook(module, cases, results)))
    env = dict(os.environ, ANSIBLE_HOME=str(workdir / "ansible-home"), ANSIBLE_NOCOLOR="1")
    argv = [
        ansible_playbook(),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={MANAGED_PYTHON}",
        str(playbook),
    ]
    log = workdir / "ansible-playbook.log"
    run = Daemon(cgroup, argv, log, env=env)
    run.start()
    try:
        returncode = run.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        returncode = f"timeout after {timeout}s"
    finally:
        run.stop()
    if returncode != 0 or not results.exists():
        raise ServiceError(f"ansible-playbook failed ({returncode}):\n{run.log_tail(60)}")
    return json.loads(results.read_text())


def _playbook(module: str, cases: dict, results: Path) -> list:
    tasks = [
        {
            "name": name,
            module: args,
            "register": f"case_{name}",
            "check_mode": check_mode,
            "ignore_errors": True,
        }
        for name, (args, check_mode) in cases.items()
    ]
    collected = ", ".join(f"'{name}': case_{name}" for name in cases)
    tasks.append(
        {
            "name": "Save every case's result for the test",
            "ansible.builtin.copy": {
                "content": "{{ {%s} | to_json }}" % collected,
                "dest": str(results),
            },
            "check_mode": False,
        }
    )
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]

"""Run one molecule scenario the way CI does, and find what it may have left behind.

Used by the tests beside this file (``make molecule``). Every run gets a private ANSIBLE_HOME
(molecule keeps its state and ephemeral folders there) and the repository's venv first on
PATH (molecule's testinfra verifier runs ``pytest`` from PATH).
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
VM_CACHE = REPO_ROOT / ".cache" / "vm"
sys.path.insert(0, str(REPO_ROOT / "tests" / "lab"))
import lab  # noqa: E402


@dataclass
class MoleculeRun:
    scenario: str
    returncode: int
    output: str
    seconds: float

    def step_results(self) -> dict[str, str]:
        """``{"verify": "Successful", ...}`` from molecule's final DETAILS block (last wins)."""
        # "default > verify: Executed: Successful" (no colour) or "default ➜ verify: ..." (tty)
        pattern = re.compile(rf"\b{re.escape(self.scenario)} (?:>|➜) (\w+)\]?:? Executed: (\w+)")
        return {m.group(1): m.group(2) for m in pattern.finditer(self.output)}


def run_scenario(scenario: str, ansible_home: Path, timeout: float) -> MoleculeRun:
    env = dict(os.environ)
    env.update(
        ANSIBLE_HOME=str(ansible_home),
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",
        ANSIBLE_NOCOLOR="1",
        PY_COLORS="0",
    )
    started = time.monotonic()
    lines = []
    # Stream molecule's output and stamp each line with the seconds since the start, so the
    # log shows how long each step took (molecule prints no times of its own).
    with subprocess.Popen(
        [str(VENV_BIN / "molecule"), "test", "--scenario-name", scenario],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        # A hung step prints nothing: a timer, not the read loop, enforces the time limit.
        # Killed this way, molecule's destroy does not run: the leftover checks will say so.
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            for line in proc.stdout:
                lines.append(f"{time.monotonic() - started:7.1f} {line}")
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            proc.kill()
    seconds = time.monotonic() - started
    if seconds >= timeout:
        lines.append(f"killed: molecule test -s {scenario} ran longer than {timeout:.0f} s\n")
    output = "".join(lines)
    # Outside pytest's tmp folders, which other test sessions rotate away.
    log = REPO_ROOT / ".cache" / "molecule-logs" / f"{scenario}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output)
    print(f"molecule test -s {scenario}: rc={returncode} in {seconds:.0f} s (log: {log})")
    for step, at in step_times(output).items():
        print(f"  {step:<12} done at {at:6.0f} s")
    return MoleculeRun(scenario, returncode, output, seconds)


def step_times(output: str) -> dict[str, float]:
    """Step -> seconds since the start when molecule reported it executed (first report)."""
    times: dict[str, float] = {}
    for match in re.finditer(r"^\s*([\d.]+) INFO\s+\[\w+ > (\w+)\] Executed", output, re.M):
        step = match.group(2)
        times[step if step not in times else f"{step} (2)"] = float(match.group(1))
    return times


def lab_leftovers(ansible_home: Path, scenario: str, prefix: str, bridge: str, subnet: str):
    """What a scenario's namespace lab left: processes, netns, links, mounts, state.

    The lab lives in molecule's ephemeral folder (``<ANSIBLE_HOME>/tmp/molecule.*.<scenario>``),
    which molecule may already have pruned; processes are also looked for by the lab's
    environment marker pointing anywhere below ANSIBLE_HOME.
    """
    state_dirs = list(ansible_home.glob(f"tmp/molecule.*.{scenario}/lab"))
    state_dir = state_dirs[0] if state_dirs else ansible_home / "lab-never-made"
    left = lab.Lab(state_dir=state_dir, prefix=prefix, bridge=bridge, subnet=subnet).leftovers()
    strays = [pid for pid in lab._pids() if lab._is_alive(pid) and _marked_below(pid, ansible_home)]
    if strays:
        left["processes_below_ansible_home"] = strays
    return left


def _marked_below(pid: int, folder: Path) -> bool:
    return lab._environ(pid).get(lab.STATE_ENV, "").startswith(str(folder) + "/")


def qemu_processes_under(folder: Path) -> list[str]:
    """Command lines of live qemu processes whose arguments name a path below ``folder``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not argv[0].endswith(b"qemu-system-x86_64"):
            continue
        if any(str(folder).encode() in arg for arg in argv):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


def _release_caches() -> list[Path]:
    return sorted(p for p in VM_CACHE.iterdir() if p.is_dir()) if VM_CACHE.is_dir() else []


def image_lock_is_free() -> bool:
    """build-image.sh locks each release's cache folder with flock; nobody may still hold one."""
    for folder in _release_caches():
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
    return True


def unfinished_image_builds() -> list[str]:
    return sorted(str(p) for folder in _release_caches() for p in folder.glob(".build.*"))

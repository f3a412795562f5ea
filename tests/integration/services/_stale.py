"""Remove what runs that died without tearing down left (SIGKILL, a CI job timeout).

Every run tags its cgroup slice, namespace and work dir with ``r<pid>`` of the process that
started it; when that process is gone, nothing can still be using them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ._cgroup import TEST_SLICE, UnitCgroup, cgroup2_mount, remove_empty_slices

SLICE_PREFIX = "netstack-test-"
NETNS_PREFIX = "nstest-ka-"
WORKDIR_PREFIX = "netstack-services-"


def process_alive(pid: int) -> bool:
    """Running or sleeping; a zombie (state Z) is dead already, only not yet reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _dead_run(tag: str) -> bool:
    if not (tag.startswith("r") and tag[1:].isdigit()):
        return False  # not one of ours: leave it alone
    pid = int(tag[1:])
    return pid != os.getpid() and not process_alive(pid)


def reap_stale_runs() -> list[str]:
    """Kill and remove the cgroups, namespaces and work dirs of dead runs; say what went."""
    removed = []
    test_slice = cgroup2_mount() / TEST_SLICE
    for run_dir in sorted(test_slice.glob(f"{SLICE_PREFIX}r*.slice")):
        if _dead_run(run_dir.name[len(SLICE_PREFIX) : -len(".slice")]):
            for unit in [p for p in run_dir.iterdir() if p.is_dir()]:
                UnitCgroup(run_dir, unit.name).remove()
            remove_empty_slices(run_dir)
            removed.append(str(run_dir))
    netns_dir = Path("/run/netns")
    for netns in sorted(netns_dir.glob(f"{NETNS_PREFIX}r*")) if netns_dir.exists() else []:
        if _dead_run(netns.name[len(NETNS_PREFIX) :]):
            subprocess.run(["ip", "netns", "del", netns.name], capture_output=True, check=False)
            removed.append(f"netns {netns.name}")
    for workdir in sorted(Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}r*-*")):
        if _dead_run(workdir.name[len(WORKDIR_PREFIX) :].split("-")[0]):
            shutil.rmtree(workdir, ignore_errors=True)
            removed.append(str(workdir))
    return removed

"""cgroup v2 directories that stand in for systemd units.

On a machine whose PID 1 is not systemd nothing puts a daemon into ``<name>.service``. The
audit attributes sockets to units through the cgroup v2 path, so each real service here runs
in a directory shaped like one:
``<cgroup2 mount>/netstack-test.slice/netstack-test-r<run>.slice/<name>.service``.
The per-run slice keeps two test runs on one machine (a developer and CI) apart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TEST_SLICE = "netstack-test.slice"


class CgroupError(RuntimeError):
    """The machine cannot give us cgroup v2 unit directories; the message says why."""


def cgroup2_mount() -> Path:
    """Where cgroup v2 is mounted: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid)."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    raise CgroupError(
        "no cgroup2 filesystem is mounted (see /proc/self/mounts); the real-service tests "
        "need one to place each service in a <name>.service directory as systemd would"
    )


def run_slice(run_tag: str) -> Path:
    """The per-run slice directory (not created)."""
    return cgroup2_mount() / TEST_SLICE / f"netstack-test-{run_tag}.slice"


class UnitCgroup:
    """One ``<name>.service`` directory: create, put a process in, kill all, remove."""

    def __init__(self, slice_dir: Path, unit: str):
        self.unit = unit
        self.path = slice_dir / unit

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True)
        except FileExistsError as exc:
            raise CgroupError(f"{self.path} exists already: a process of this run uses it") from exc
        except OSError as exc:
            raise CgroupError(f"cannot create cgroup {self.path}: {exc}") from exc

    def join_self(self) -> None:
        """Move the calling process into this cgroup (used in a child before exec)."""
        with open(self.path / "cgroup.procs", "w", encoding="ascii") as procs:
            procs.write(str(os.getpid()))

    def pids(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        return [int(pid) for pid in text.split()]

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup (children of daemons too) and wait until empty."""
        if not self.path.exists():
            return
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists():
            kill_file.write_text("1", encoding="ascii")
        else:  # kernels before 5.14: kill one by one until nothing is left
            for pid in self.pids():
                _kill_quietly(pid)
        deadline = time.monotonic() + timeout
        while self.pids():
            if time.monotonic() > deadline:
                raise CgroupError(f"{self.path} still holds pids {self.pids()} after SIGKILL")
            time.sleep(0.02)

    def remove(self) -> None:
        """Kill what is left and remove the directory (and empty parent slices)."""
        self.kill_all()
        _rmdir_retrying(self.path)


def remove_empty_slices(slice_dir: Path) -> None:
    """Remove the run's slice and, when no other run uses it, the shared test slice."""
    for path in (slice_dir, slice_dir.parent):
        try:
            path.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # another run still has units there
            return


def _rmdir_retrying(path: Path, timeout: float = 5.0) -> None:
    # rmdir answers EBUSY for a moment after the last process left (exit is asynchronous).
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


class NamedCgroup(UnitCgroup):
    """A cgroup at ``relative`` under ``mount``, named as a container runtime or the kubelet
    names its own (``system.slice/docker-<id>.scope``, ``kubepods.slice/...``).

    Parents that are missing are created and, when empty, removed again by ``remove``;
    parents that were there (or that another run made meanwhile) are left alone.
    """

    def __init__(self, mount: Path, relative: str):
        super().__init__(mount, relative)
        self.created: list[Path] = []

    def create(self) -> None:
        missing = []
        parent = self.path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            try:
                directory.mkdir()
            except FileExistsError:
                continue  # made by another run at the same moment: theirs
            except OSError as exc:
                raise CgroupError(f"cannot create cgroup {directory}: {exc}") from exc
            self.created.append(directory)
        super().create()

    def remove(self) -> None:
        super().remove()
        for directory in reversed(self.created):
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError:  # another run's cgroups are in it now
                return

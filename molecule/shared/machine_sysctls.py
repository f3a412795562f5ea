"""Snapshot the real machine's own sysctls, to prove a molecule run left them untouched.

usage: machine_sysctls.py save FILE      (create.yml, before any host exists)
       machine_sysctls.py compare FILE   (exit 1 and list the differences)

Namespace hosts share the machine's kernel: kernel.*, vm.* and fs.* are not per namespace, and
the controller's own network namespace has its own net.ipv4.tcp_keepalive_*. We record every
writable (so: configuration, not a counter) value under kernel/vm/fs plus the controller's
keepalive values; the verifier compares after converge and reboots. Standard library only.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

PROC_SYS = Path("/proc/sys")
TREES = ("kernel", "vm", "fs")
KEEPALIVE = tuple(f"net/ipv4/tcp_keepalive_{k}" for k in ("time", "intvl", "probes"))
# Writable but moving on their own (pid allocation, random state, timestamps).
VOLATILE = {"kernel/ns_last_pid", "kernel/random/write_wakeup_threshold", "vm/stat_refresh"}


def _readable_setting(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) and mode & stat.S_IWUSR and mode & stat.S_IRUSR):
            return None
        return path.read_text().strip()
    except OSError:  # some writable files refuse reads (EPERM, EINVAL, EIO)
        return None


def snapshot() -> dict[str, str]:
    values = {}
    for tree in TREES:
        for dirpath, _dirs, files in os.walk(PROC_SYS / tree):
            for name in files:
                path = Path(dirpath) / name
                key = str(path.relative_to(PROC_SYS))
                if key in VOLATILE:
                    continue
                value = _readable_setting(path)
                if value is not None:
                    values[key] = value
    for key in KEEPALIVE:
        values[key] = (PROC_SYS / key).read_text().strip()
    return values


def differences(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple]:
    keys = set(before) | set(after)
    return {k: (before.get(k), after.get(k)) for k in sorted(keys) if before.get(k) != after.get(k)}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("save", "compare"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    target = Path(argv[2])
    if argv[1] == "save":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(snapshot(), indent=1, sort_keys=True) + "\n")
        return 0
    changed = differences(json.loads(target.read_text()), snapshot())
    for key, (old, new) in changed.items():
        print(f"{key}: {old!r} -> {new!r}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The working tree as ``ansible_collections.netstack.keepalive``, for the demo and benchmarks.

Ansible finds a collection under ``<dir>/ansible_collections/<namespace>/<name>``. The
scripts keep a symlink farm in the ignored ``.cache`` folder (the same one the tests use),
so the repository can be cloned anywhere. Nothing happens on import: call
``collections_path()`` for the value of ``ANSIBLE_COLLECTIONS_PATH``, and
``import_collection()`` before importing ``ansible_collections.netstack.keepalive`` in
this Python. Run as a script, it makes the farm and prints its folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def collections_path() -> Path:
    """Return the folder that holds ``ansible_collections/netstack/keepalive`` -> repo."""
    base = REPO_ROOT / ".cache" / "collections"
    link = base / "ansible_collections" / "netstack" / "keepalive"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        tmp = link.with_name(f".keepalive.{os.getpid()}")
        tmp.symlink_to(REPO_ROOT)
        os.replace(tmp, link)  # atomic: a concurrent run sees the old link or the new one
    return base


def import_collection() -> Path:
    """Put ``collections_path()`` first on ``sys.path`` and return it."""
    base = str(collections_path())
    if base not in sys.path:
        sys.path.insert(0, base)
    return Path(base)


if __name__ == "__main__":
    # ANSIBLE_COLLECTIONS_PATH=$(.venv/bin/python scripts/_collection_path.py) ansible-doc ...
    print(collections_path())

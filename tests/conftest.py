"""Make the working tree importable as ``ansible_collections.netstack.keepalive``.

Tests import the collection the way Ansible does. Instead of asking every developer to
clone into an ``ansible_collections/netstack/keepalive`` folder, we keep a symlink farm in
the ignored ``.cache`` folder and put it first on ``sys.path``. Integration tests point
``ANSIBLE_COLLECTIONS_PATH`` at the same place (see ``collections_path()``).
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
        os.replace(tmp, link)
    return base


_COLLECTIONS = str(collections_path())
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", _COLLECTIONS)

"""Make the working tree importable as ``ansible_collections.netstack.keepalive``.

Tests import the collection the way Ansible does, through the symlink farm that
``scripts/_collection_path.py`` keeps in the ignored ``.cache`` folder (the demo and the
benchmarks use the same one). Integration tests point ``ANSIBLE_COLLECTIONS_PATH`` at it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from _collection_path import collections_path, import_collection  # noqa: E402

_COLLECTIONS = str(import_collection())
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", _COLLECTIONS)

__all__ = ["collections_path"]

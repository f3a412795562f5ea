"""Run the collection's Python inside a lab host without Ansible's transport.

A lab host sees the machine's files through its overlay root, but not the machine's /tmp
or /run (its own tmpfs), so a checkout there is invisible inside it. Tests that start the
module code directly in a host (a SIGKILL loop, the boot model over the host's own tree)
therefore get a copy, as AnsiballZ would send one: the collection's ``plugins`` and the
``ansible.module_utils`` package that AnsibleModule needs, unpacked on the host's private
disk and run with the host's own ``/usr/bin/python3``.
"""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import ansible.module_utils

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST_PYTHON = "/usr/bin/python3"
HOST_SITE = "/opt/netstack-keepalive-tests"
_COLLECTION = "ansible_collections/netstack/keepalive"


def _skip_cache(info):
    return None if "__pycache__" in info.name or info.name.endswith(".pyc") else info


def _bundle():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for package in ("ansible_collections", "ansible_collections/netstack", _COLLECTION):
            tar.addfile(_empty_init(package), io.BytesIO(b""))
        tar.add(str(REPO_ROOT / "plugins"), _COLLECTION + "/plugins", filter=_skip_cache)
        tar.addfile(_empty_init("ansible"), io.BytesIO(b""))
        module_utils = Path(ansible.module_utils.__file__).parent
        tar.add(str(module_utils), "ansible/module_utils", filter=_skip_cache)
    return base64.b64encode(buffer.getvalue()).decode()


def _empty_init(package):
    info = tarfile.TarInfo(package + "/__init__.py")
    info.mode = 0o644
    return info


def install(lab, host):
    """Copy the code into ``host``; returns the directory to put on its PYTHONPATH."""
    lab.run(
        host,
        "rm -rf %s && mkdir -p %s && base64 -d | tar -xz -C %s" % ((HOST_SITE,) * 3),
        input=_bundle(),
        check=True,
    )
    return HOST_SITE

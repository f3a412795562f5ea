"""The execution environment: ansible-builder (in its own tool venv, scripts/tool-venv.sh)
reads the collection's meta/execution-environment.yml from an installed copy and renders
the build context of examples/execution-environment.yml. No image is built here (no
container runtime on this machine): `ansible-builder create` stops at the Containerfile."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "execution-environment.yml"


def builder():
    bin_dir = subprocess.run(
        ["bash", "scripts/tool-venv.sh", "ansible-builder", "requirements/ansible-builder.txt"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=600,
    ).stdout.strip()  # fmt: skip
    return str(Path(bin_dir) / "ansible-builder")


def test_introspection_finds_the_collections_python_and_system_needs(tmp_path):
    installed = tmp_path / "collections" / "ansible_collections" / "netstack" / "keepalive"
    installed.parent.mkdir(parents=True)
    for name in ("meta", "galaxy.yml"):
        copy = shutil.copytree if (REPO_ROOT / name).is_dir() else shutil.copy
        copy(REPO_ROOT / name, installed / name)
    done = subprocess.run([builder(), "introspect", str(tmp_path / "collections")],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    found = yaml.safe_load(done.stdout.split("\n", 1)[1])
    assert found["python"] == ["jinja2>=3.0  # from collection netstack.keepalive"], found
    assert "openssh-client [platform:dpkg]  # from collection netstack.keepalive" in found["system"]


def test_the_example_definition_renders_a_build_context(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "execution-environment.yml")
    done = subprocess.run(
        [builder(), "create", "-f", "execution-environment.yml", "-c", "context"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    recipe = next(
        (tmp_path / "context").glob("[CD]*file")
    ).read_text()  # Containerfile / Dockerfile
    assert "ENV NETSTACK_KEEPALIVE_REPORT_DIR=/runner/keepalive-report" in recipe
    assert "introspect" in recipe and "ansible-galaxy" in recipe
    requirements = yaml.safe_load(
        next((tmp_path / "context").rglob("requirements.yml")).read_text()
    )
    assert requirements["collections"][0]["name"] == "netstack.keepalive"

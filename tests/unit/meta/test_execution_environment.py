"""meta/execution-environment.yml as ansible-builder reads it from an installed collection:
version 1, only the dependency kinds it knows, each a file relative to the collection root
that exists, with PEP 508 requirement lines (python) and bindep lines (system)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
META = ROOT / "meta" / "execution-environment.yml"
# The keys ansible-builder's introspection of a collection reads (version 1 of the format).
KINDS = {"python", "system"}
BINDEP_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*( [^\[\]]+)?( \[[a-z0-9:!_ -]+\])?$")


def lines(path):
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            found.append(line)
    return found


def test_the_file_is_version_1_with_known_dependency_kinds():
    data = yaml.safe_load(META.read_text())
    assert set(data) == {"version", "dependencies"}, data
    assert data["version"] == 1
    assert data["dependencies"] and set(data["dependencies"]) <= KINDS, data


def test_every_dependency_file_is_relative_to_the_collection_and_exists():
    for kind, name in yaml.safe_load(META.read_text())["dependencies"].items():
        assert not Path(name).is_absolute(), (kind, name)
        assert (ROOT / name).is_file(), (kind, name)
        assert lines(ROOT / name), "%s: %s lists nothing" % (kind, name)


def test_python_lines_are_requirements_and_system_lines_are_bindep():
    dependencies = yaml.safe_load(META.read_text())["dependencies"]
    for line in lines(ROOT / dependencies["python"]):
        Requirement(line)  # raises on a line pip would refuse
    for line in lines(ROOT / dependencies["system"]):
        assert BINDEP_LINE.match(line), line

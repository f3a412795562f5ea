#!/usr/bin/env python
"""Write the entry points and variables of a role's README from its meta/argument_specs.yml.

    .venv/bin/python scripts/role-readme.py [--check] [ROLE_DIR ...]

Without a role directory every role under roles/ that has meta/argument_specs.yml is done.
The part of README.md between the two marker lines below is replaced with what the argument
specs say: one section per entry point (main first, then the others in file order) with its
short description and description, and a table of its variables (type, default, choices,
description). An entry point with the same options as main says so instead of repeating
the table. Everything outside the markers is left as written.

Before writing, each option's default in the main entry point is compared with
defaults/main.yml, and both must name the same variables; a difference is an error, since
the role runs with defaults/main.yml while ansible-doc and the README show the specs.

--check writes nothing and exits 1 naming every stale README (with a diff) and every
default that differs; `make lint` runs it.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BEGIN = (
    "<!-- BEGIN_ARGUMENT_SPECS: generated from meta/argument_specs.yml by "
    "scripts/role-readme.py; edit the specs, then run it -->"
)
END = "<!-- END_ARGUMENT_SPECS -->"
# Ansible documentation markup -> Markdown. P(name#type) keeps the name.
MARKUP = (
    (re.compile(r"L\(([^)]+?),\s*([^)]+)\)"), r"[\1](\2)"),
    (re.compile(r"U\(([^)]+)\)"), r"<\1>"),
    (re.compile(r"P\(([^)#]+)#[^)]+\)"), r"`\1`"),
    (re.compile(r"B\(([^)]+)\)"), r"**\1**"),
    (re.compile(r"I\(([^)]+)\)"), r"*\1*"),
    (re.compile(r"(?:C|V|O|RV|M|E)\(([^)]+)\)"), r"`\1`"),
)


class SpecError(Exception):
    """The argument specs cannot be rendered or disagree with defaults/main.yml."""


def markdown(text):
    for pattern, replacement in MARKUP:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def paragraphs(description):
    if description is None:
        return []
    if isinstance(description, str):
        description = [description]
    return [markdown(str(item)) for item in description]


def flow(value):
    """A value as YAML writes it inline: ``cloud``, ``'0644'``, ``''``, ``[]``, ``true``."""
    text = yaml.safe_dump([value], default_flow_style=True, width=1000).strip()
    return text[1:-1]


def cell(text):
    return text.replace("|", "\\|")


def type_of(spec):
    kind = spec.get("type", "str")
    if kind == "list" and spec.get("elements"):
        return "list of %s" % spec["elements"]
    return kind


def variable_table(options):
    lines = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, spec in options.items():
        if spec.get("required"):
            default = "required"
        elif "default" in spec:
            default = "`%s`" % flow(spec["default"])
        else:
            default = "-"
        text = " ".join(paragraphs(spec.get("description")))
        if spec.get("choices"):
            text += " Choices: %s." % ", ".join("`%s`" % flow(item) for item in spec["choices"])
        lines.append(
            "| `%s` | %s | %s | %s |" % (name, cell(type_of(spec)), cell(default), cell(text))
        )
    return lines


def entry_points(specs):
    """Entry points in the order to show them: main first, then the file's order."""
    points = specs.get("argument_specs")
    if not isinstance(points, dict) or "main" not in points:
        raise SpecError("no argument_specs.main")
    return ["main"] + [name for name in points if name != "main"], points


def render(specs):
    order, points = entry_points(specs)
    main_options = points["main"].get("options") or {}
    lines = [BEGIN, "", "## Entry points and variables", ""]
    for name in order:
        point = points[name]
        title = "`main`" if name == "main" else "`%s` (`tasks_from: %s`)" % (name, name)
        lines += ["### %s" % title, "", markdown(point.get("short_description", "")), ""]
        for paragraph in paragraphs(point.get("description")):
            lines += [paragraph, ""]
        options = point.get("options") or {}
        if name != "main" and options == main_options:
            lines += ["Takes the same variables as `main`.", ""]
        elif options:
            lines += variable_table(options) + [""]
        else:
            lines += ["No variables.", ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def default_problems(role, specs):
    """Differences between the main entry point's defaults and defaults/main.yml."""
    path = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(path.read_text()) if path.exists() else {}
    defaults = defaults or {}
    options = specs["argument_specs"]["main"].get("options") or {}
    where = "%s vs %s" % (rel(role / "meta" / "argument_specs.yml"), rel(path))
    problems = []
    for name in sorted(set(options) | set(defaults)):
        spec = options.get(name)
        if spec is None:
            problems.append("%s: %s is in defaults/main.yml but not in the specs" % (where, name))
        elif name not in defaults:
            if not spec.get("required"):
                problems.append("%s: %s has no default in defaults/main.yml" % (where, name))
        elif spec.get("default") != defaults[name] or "default" not in spec:
            problems.append(
                "%s: %s default %s in the specs, %s in defaults/main.yml"
                % (where, name, flow(spec.get("default")), flow(defaults[name]))
            )
    return problems


def rel(path):
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def splice(readme_text, section, readme):
    start = readme_text.find(BEGIN)
    end = readme_text.find(END)
    if start < 0 or end < start or readme_text.count(BEGIN) != 1 or readme_text.count(END) != 1:
        raise SpecError(
            "%s: needs exactly one pair of marker lines, in this order:\n  %s\n  %s"
            % (rel(readme), BEGIN, END)
        )
    after = end + len(END)
    if readme_text[after : after + 1] == "\n":
        after += 1
    return readme_text[:start] + section + readme_text[after:]


def process(role, check):
    """Return the problems for one role; write its README unless ``check``."""
    specs_file = role / "meta" / "argument_specs.yml"
    readme = role / "README.md"
    specs = yaml.safe_load(specs_file.read_text())
    try:
        section = render(specs)
    except SpecError as exc:
        return ["%s: %s" % (rel(specs_file), exc)]
    problems = default_problems(role, specs)
    old = readme.read_text() if readme.exists() else ""
    try:
        new = splice(old, section, readme)
    except SpecError as exc:
        return problems + [str(exc)]
    if new == old:
        return problems
    if check:
        diff = "".join(
            difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), rel(readme), rel(readme) + " (specs)"
            )
        )
        return problems + [
            "%s is stale: run scripts/role-readme.py to regenerate it from %s\n%s"
            % (rel(readme), rel(specs_file), diff)
        ]
    readme.write_text(new)
    print("wrote %s" % rel(readme))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("roles", nargs="*", type=Path, help="role directories (default: all)")
    args = parser.parse_args(argv)
    roles = [role.resolve() for role in args.roles] or sorted(
        path.parent.parent for path in (REPO / "roles").glob("*/meta/argument_specs.yml")
    )
    problems = []
    for role in roles:
        problems += process(role, args.check)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

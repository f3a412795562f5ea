#!/usr/bin/env bash
# Managed-host code (plugins/modules, plugins/module_utils) must run on the oldest Python a
# supported ansible-core can target: 3.6 (tests/config.yml). Two checks:
#  1. ast.parse(feature_version=(3, 6)) with the running Python: grammar only (walrus,
#     positional-only parameters, parenthesised context managers, ...). It cannot see
#     library use, and it is best-effort for some forms (e.g. f-string internals).
#  2. vermin: also the standard-library modules, functions, constants and keyword arguments
#     each file uses, and `from __future__ import annotations` (3.7). It cannot see calls made
#     through getattr/ctypes or values that only exist at run time.
# A use guarded at run time (hasattr/try) is listed below with --exclude, each with its guard.
set -euo pipefail
cd "$(dirname "$0")/.."
PATHS=(plugins/module_utils plugins/modules)

mapfile -t files < <(find "${PATHS[@]}" -name '*.py' | sort)
python3 - "${files[@]}" <<'PY'
import ast
import sys

bad = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as source:
        try:
            ast.parse(source.read(), path, feature_version=(3, 6))
        except SyntaxError as err:
            print("%s:%s: not Python 3.6 syntax: %s" % (path, err.lineno, err.msg))
            bad += 1
sys.exit(1 if bad else 0)
PY

BIN=$(bash scripts/tool-venv.sh vermin requirements/vermin.txt)
# os.pidfd_open (3.9): _procfd._pidfd_open calls it only when hasattr(os, "pidfd_open"),
# else the raw syscall.
"$BIN/vermin" --no-config-file --quiet --no-tips --violations --eval-annotations \
  --target=3.6- --exclude os.pidfd_open "${PATHS[@]}"
echo "check-py36: ${#files[@]} files run on Python 3.6"

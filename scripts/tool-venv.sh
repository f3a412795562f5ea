#!/usr/bin/env bash
# Create (or reuse) a virtualenv under .cache for one tool whose pins clash with, or need not
# live in, .venv. Recreated when its requirements file changes.
# Usage: scripts/tool-venv.sh NAME REQUIREMENTS_FILE    prints the venv's bin folder.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=$1
REQUIREMENTS=$2
PYTHON=${PYTHON:-python3.11}
VENV=.cache/venv-$NAME
STAMP=$VENV/.requirements.sha256

want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$want" ]]; then
  printf 'tool-venv: creating %s from %s\n' "$VENV" "$REQUIREMENTS" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" >&2
  printf '%s\n' "$want" >"$STAMP"
fi
printf '%s\n' "$PWD/$VENV/bin"

#!/usr/bin/env bash
# Build the collection tarball and run galaxy-importer on it (ansible-doc, ansible-lint,
# flake8, metadata, README and changelog checks), as Galaxy and Automation Hub do on upload.
# Fails on any warning or error the importer reports. Its own venv (requirements/
# galaxy-importer.txt) keeps its ansible-lint and flake8 pins apart from .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

BIN=$(bash scripts/tool-venv.sh galaxy-importer requirements/galaxy-importer.txt)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tmp" "$WORK/dist"

"$BIN/ansible-galaxy" collection build --output-path "$WORK/dist" >/dev/null
tarball=$(echo "$WORK"/dist/*.tar.gz)

export GALAXY_IMPORTER_CONFIG=$REPO/scripts/galaxy-importer.cfg
export GALAXY_IMPORTER_TMP_ROOT_DIR=$WORK/tmp
export GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=$WORK/tmp/ansible
export HOME=$WORK/home   # ansible-doc and ansible-lint caches stay out of the user's home
export PATH=$BIN:$PATH   # the importer runs ansible-doc, ansible-lint and flake8 from PATH
mkdir -p "$HOME"
# It writes importer_result.json into the current folder: keep that in $WORK too.
(cd "$WORK" && "$BIN/python" -m galaxy_importer.main "$tarball") >"$WORK/import.log" 2>&1 || {
  cat "$WORK/import.log"
  echo "galaxy-importer: failed" >&2
  exit 1
}
if grep -E '^(WARNING|ERROR)|WARNING:|ERROR:' "$WORK/import.log"; then
  echo "galaxy-importer: the findings above would show on Galaxy and Automation Hub" >&2
  exit 1
fi
echo "galaxy-importer: $(basename "$tarball") imports with no warnings"

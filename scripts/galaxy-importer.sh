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
status=0
grep -E '^(WARNING|ERROR)|WARNING:|ERROR:' "$WORK/import.log" || true
grep -qE '^(WARNING|ERROR)|WARNING:|ERROR:' "$WORK/import.log" && status=1
# Galaxy lists every content item the importer found; one without a description shows as
# undocumented (for example a .py file in plugins/filter that is not named after a filter).
# Action plugins share their module's docs; module_utils, doc fragments and playbooks have none.
"$BIN/python" - "$WORK/importer_result.json" <<'PY' || status=1
import json
import sys

with open(sys.argv[1]) as handle:
    contents = json.load(handle)["contents"]
bare = [
    "%s %s" % (item["content_type"], item["name"])
    for item in contents
    if item["content_type"] not in ("action", "module_utils", "doc_fragments", "playbook")
    and not item.get("description")
]
for entry in bare:
    print("UNDOCUMENTED: %s" % entry)
sys.exit(1 if bare else 0)
PY
if ((status)); then
  echo "galaxy-importer: the findings above would show on Galaxy and Automation Hub" >&2
  exit 1
fi
echo "galaxy-importer: $(basename "$tarball") imports with no warnings"

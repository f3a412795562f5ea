#!/usr/bin/env bash
# Run `ansible-test` (sanity by default) on this collection without Docker and offline from
# everything but PyPI. ansible-test insists on a physical path ending in
# ansible_collections/netstack/keepalive, so the tracked tree is copied into a temporary one.
# Usage: scripts/ansible-test.sh [sanity|units ...args]   (default: sanity)
# ANSIBLE_TEST_VENV=DIR runs the ansible-test of another venv (scripts/matrix.py passes the
# venv of each ansible-core it tests); the default is the project's .venv.
# ANSIBLE_TEST_SOURCE=DIR copies the tree from another git work tree (scripts/matrix.py passes
# its snapshot); the default is this repository's working tree.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${ANSIBLE_TEST_VENV:-$REPO/.venv}
ANSIBLE_TEST=$VENV/bin/ansible-test
[[ -x $ANSIBLE_TEST ]] || { echo "ansible-test.sh: no $ANSIBLE_TEST" >&2; exit 2; }

# A private HOME keeps ansible-test's caches (and the get-pip stand-in) inside the repo's
# ignored .cache and away from the user's own ~/.ansible.
export HOME=$REPO/.cache/ansible-test-home
mkdir -p "$HOME/.ansible/test/cache"
# The pip versions this ansible-test bootstraps its venvs with (pip='X.Y' in its source).
pip_versions=$(grep -ohE "pip='[0-9.]+'" "$VENV"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py |
  sed -E "s/pip='([0-9.]+)'/\1/; s/\./_/g" | sort -u || true)
for version in 24_2 25_0 25_1 25_2 $pip_versions; do
  install -m 0644 "$REPO/scripts/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${version}.py"
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/ansible_collections/netstack/keepalive
mkdir -p "$TREE"
# Tracked and new-but-not-ignored files, as they are in the working tree.
SOURCE=${ANSIBLE_TEST_SOURCE:-$REPO}
(cd "$SOURCE" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
  tar --null -T - -cf -) | tar -xf - -C "$TREE"
# ansible-test lists files through git when there is a repository: give it one.
(cd "$TREE" && git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm tree)

cd "$TREE"
if (($# == 0)); then set -- sanity; fi
command=$1
shift
case $command in
  sanity) "$ANSIBLE_TEST" sanity --venv --python 3.11 --color no "$@" ;;
  *) "$ANSIBLE_TEST" "$command" --venv --python 3.11 --color no "$@" ;;
esac

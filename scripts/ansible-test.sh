#!/usr/bin/env bash
# Run `ansible-test` (sanity by default) on this collection without Docker and offline from
# everything but PyPI. ansible-test insists on a physical path ending in
# ansible_collections/netstack/keepalive, so the tracked tree is copied into a temporary one.
# Usage: scripts/ansible-test.sh [sanity|units ...args]   (default: sanity)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ANSIBLE_TEST=$REPO/.venv/bin/ansible-test

# A private HOME keeps ansible-test's caches (and the get-pip stand-in) inside the repo's
# ignored .cache and away from the user's own ~/.ansible.
export HOME=$REPO/.cache/ansible-test-home
mkdir -p "$HOME/.ansible/test/cache"
for version in 24_2 25_0 25_1 25_2; do
  install -m 0644 "$REPO/scripts/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${version}.py"
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/ansible_collections/netstack/keepalive
mkdir -p "$TREE"
# Tracked and new-but-not-ignored files, as they are in the working tree.
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
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

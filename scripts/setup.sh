#!/usr/bin/env bash
# One-time (and fast on re-run) set-up for this repository: Debian packages the tests need,
# and .venv with the pinned Python tools from requirements/dev.txt.
# Re-running changes nothing when all is in place. Called by `make setup` (and so by
# `make demo` and `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the lab, the services of the adoption audit, the VM scenario and the
# report's browser check need. Keep this list the single source of truth.
APT_PACKAGES=(
  openssh-server openssh-client iproute2 procps kmod util-linux
  redis-server postgresql nginx
  qemu-system-x86 qemu-utils debootstrap
  chromium shellcheck
  nftables  # the blackhole of tests/integration/test_detection_kernel.py, the lab router
  haproxy  # the layer-7 box of tests/integration/test_middlebox_nat.py
)
PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.requirements.sha256

say() { printf 'setup: %s\n' "$*"; }

missing_packages() {
  local pkg status
  for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    say "Debian packages: all ${#APT_PACKAGES[@]} present"
    return
  fi
  if ((EUID != 0)); then
    say "cannot install Debian packages without root; missing: ${missing[*]}"
    say "run as root, or: sudo apt-get install -y ${missing[*]}"
    return 1
  fi
  say "installing Debian packages: ${missing[*]}"
  # Services we install must not start on the real machine's default ports: the tests start
  # their own instances on loopback. policy-rc.d (exit 101) tells invoke-rc.d not to start them.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && created_policy=1
  fi
  trap '[[ $created_policy == 1 ]] && rm -f "$policy"' RETURN
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

make_venv() {
  local want
  want=$(sha256sum requirements/dev.txt | cut -d' ' -f1)
  if [[ -x $VENV/bin/python && -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
    say "venv: up to date ($VENV)"
    return
  fi
  say "venv: creating $VENV from requirements/dev.txt"
  [[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements/dev.txt
  printf '%s\n' "$want" >"$STAMP"
}

install_packages
make_venv
say "ready"

"""``molecule test`` for both scenarios, then proof that nothing was left behind.

molecule/default: three namespace hosts (tests/lab); molecule/vm: three qemu VMs, one per
Debian release (bullseye, bookworm, trixie), each from a cached debootstrap image. Each run
uses a private ANSIBLE_HOME. Durations are printed (pytest -s or the captured output of a
failure) and written to the log beside molecule's own output.
"""

from __future__ import annotations

import pytest
from _molecule_run import (
    image_lock_is_free,
    lab_leftovers,
    qemu_processes_under,
    run_scenario,
    unfinished_image_builds,
)

SEQUENCE = [
    "destroy",
    "syntax",
    "create",
    "check",
    "converge",
    "idempotence",
    "side_effect",
    "verify",
]
# molecule.yml of molecule/default names its lab; must match to find what it might leave.
DEFAULT_LAB = dict(prefix="mkdf", bridge="mkdfbr0", subnet="10.247.31")

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def assert_green(run):
    steps = run.step_results()
    assert run.returncode == 0, f"molecule failed; steps: {steps}\n{run.output[-6000:]}"
    failed = {step: result for step, result in steps.items() if result != "Successful"}
    assert not failed, failed
    assert set(SEQUENCE) <= set(steps), f"steps that did not run: {set(SEQUENCE) - set(steps)}"


def test_default_scenario_on_namespace_hosts(tmp_path):
    run = run_scenario("default", tmp_path, timeout=1200)
    assert_green(run)
    assert "16 passed" in run.output, "verifier: 5 checks x 3 hosts + the machine's sysctls"
    assert lab_leftovers(tmp_path, "default", **DEFAULT_LAB) == {}


def test_vm_scenario_on_qemu_vms(tmp_path):
    run = run_scenario("vm", tmp_path, timeout=2400)
    assert_green(run)
    assert "prepare" in run.step_results(), "the tricky sysctl tree was never laid"
    assert "64 passed" in run.output, "verifier: (5 shared + 16 per release) x 3 VMs + the machine"
    assert qemu_processes_under(tmp_path) == []
    assert image_lock_is_free(), "build-image.sh still holds the lock on .cache/vm"
    assert unfinished_image_builds() == []
    assert list(tmp_path.glob("tmp/molecule.*.vm/vms/*")) == [], "overlays left behind"

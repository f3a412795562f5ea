"""A broken role must make the verifier fail: molecule/negative persists our values to a file
on tmpfs (``/run/sysctl.d/``, gone after a reboot), reboots the host, and runs the verifier
of molecule/default. Everything up to the reboot must succeed, and verify must fail on exactly
the checks that a lost value breaks, while the reboot itself is proven."""

from __future__ import annotations

import re

import pytest
from _molecule_run import lab_leftovers, run_scenario

NEGATIVE_LAB = dict(prefix="mkng", bridge="mkngbr0", subnet="10.247.32")
MUST_FAIL = {
    "test_runtime_values_are_the_intended_ones",
    "test_our_file_has_mode_0644_and_exactly_our_keys",
    "test_no_file_applied_at_boot_shadows_ours",
}
MUST_PASS = {
    "test_the_host_really_rebooted",
    "test_expectations_differ_from_kernel_defaults",
    "test_the_machines_own_sysctls_are_untouched",
}

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def verifier_outcomes(output: str) -> dict[str, set[str]]:
    """test name -> outcomes seen in pytest -v lines ("test_x[ansible://h] PASSED")."""
    outcomes: dict[str, set[str]] = {}
    for match in re.finditer(r"::(test_\w+)(?:\[[^\]]*\])? (PASSED|FAILED|ERROR)", output):
        outcomes.setdefault(match.group(1), set()).add(match.group(2))
    return outcomes


def test_verify_fails_when_the_role_does_not_persist(tmp_path):
    run = run_scenario("negative", tmp_path, timeout=1200)
    steps = run.step_results()
    assert run.returncode != 0, "molecule succeeded although the role persisted nothing"
    for step in ("create", "converge", "side_effect"):
        tail = run.output[-4000:]
        assert steps.get(step) == "Successful", f"{step} must succeed: {steps}\n{tail}"
    assert steps.get("verify") == "Failed", steps
    assert steps.get("destroy") == "Successful", steps

    outcomes = verifier_outcomes(run.output)
    for name in MUST_FAIL:
        assert outcomes.get(name) == {"FAILED"}, (name, outcomes)
    for name in MUST_PASS:
        assert outcomes.get(name) == {"PASSED"}, (name, outcomes)
    assert lab_leftovers(tmp_path, "negative", **NEGATIVE_LAB) == {}

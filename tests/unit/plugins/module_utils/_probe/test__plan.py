"""The path probe's plan (pure): option checks, the next round's idle times, the bracket,
the worst-case estimate, the override entry, and bisection against simulated boxes."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._probe import _plan

GOOD = {
    "role": "probe",
    "peer": "10.0.0.2",
    "port": 47001,
    "token": "secret",
    "resolution": 10,
    "min_idle": 5,
    "max_idle": 900,
    "max_duration": 1800,
    "parallel": 4,
    "answer_within": 5,
    "connect_timeout": 5,
    "verify_keepalive": None,
}


def params(**changes):
    return dict(GOOD, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role": "sniff"}, "role='sniff': give one of probe, listen, stop"),
        ({"port": 0}, "port=0: give an integer from 1 to 65535"),
        ({"port": 70000}, "port=70000: give an integer from 1 to 65535"),
        ({"port": True}, "port=True: give an integer from 1 to 65535"),
        ({"token": ""}, "token='': give the shared secret"),
        ({"peer": None}, "peer=None: role=probe needs the peer's address"),
        ({"resolution": 0}, "resolution=0: give an integer from 1"),
        ({"resolution": "5"}, "resolution='5': give an integer from 1"),
        ({"parallel": 33}, "parallel=33: give an integer from 1 to 32"),
        ({"resolution": 2000}, "resolution=2000: must not exceed max_duration=1800"),
        ({"min_idle": 900}, "min_idle=900: must be below max_idle=900"),
        ({"max_idle": 1795}, "max_idle=1795: one round to it takes up to 1802 s"),
        (
            {"verify_keepalive": {"time": 0, "intvl": 1, "probes": 3}},
            "time=0: give an integer from 1",
        ),
    ],
)
def test_bad_options_are_refused_naming_option_value_and_allowed(changes, message):
    with pytest.raises(KeepaliveError) as error:
        _plan.check_params(params(**changes))
    assert message in str(error.value)


def test_good_options_pass_and_a_listener_needs_no_peer():
    assert _plan.check_params(params()) == params()
    assert _plan.check_params(params(role="listen", peer=None))["role"] == "listen"


@pytest.mark.parametrize(
    ("low", "high", "parallel", "expected"),
    [
        (0, None, 4, [5, 28, 159, 900]),  # geometric: 5 x 180 ** (i / 3)
        (0, None, 1, [5]),  # one at a time: doubling
        (40, None, 1, [80]),
        (156, None, 4, [157, 281, 503, 900]),  # above what survived
        (0, 29, 4, [6, 12, 17, 23]),  # evenly inside the bracket
        (17, 23, 4, [18, 19, 21, 22]),  # 17 + 1.2 i, rounded
        (20, 22, 4, [21]),  # nothing else strictly inside
        (20, 21, 4, []),  # nothing left to try
        (900, None, 4, [900]),
    ],
)
def test_next_idles(low, high, parallel, expected):
    bracket = _plan.Bracket(low, high)
    assert _plan.next_idles(bracket, parallel, 5, 900) == expected


def test_the_bracket_keeps_the_longest_survivor_and_the_shortest_death():
    bracket = _plan.Bracket()
    bracket.record(30, "alive")
    bracket.record(156, "silent_drop")
    bracket.record(90, "reset")
    bracket.record(60, "alive")
    assert bracket.as_dict() == {"low": 60, "high": 90}
    assert bracket.ending == "reset"  # the shortest death says how the box ends flows
    bracket.record(80, "fin", closed_after=65.2)  # closed while idle, at 65.2 s
    assert bracket.as_dict() == {"low": 60, "high": 65.2} and bracket.ending == "fin"
    assert bracket.done(10) and not bracket.done(5)
    with pytest.raises(KeepaliveError, match="unknown outcome"):
        bracket.record(10, "exploded")


def simulate(timeout, ending="silent_drop", **changes):
    """Run the rounds against a box that forgets a flow idle for ``timeout`` s or more."""
    options = params(**changes)
    bracket, rounds, seconds = _plan.Bracket(), 0, 0
    while not bracket.done(options["resolution"]):
        idles = _plan.next_idles(
            bracket, options["parallel"], options["min_idle"], options["max_idle"]
        )
        if not idles:
            break
        rounds += 1
        dead = [t for t in idles if t >= timeout]
        seconds += (min(dead) if dead else max(idles)) + options["answer_within"]
        for idle in idles:
            bracket.record(idle, ending if idle >= timeout else "alive")
        if bracket.high is None and idles[-1] >= options["max_idle"]:
            break
    return bracket, rounds, seconds


@pytest.mark.parametrize("timeout", [6, 8, 14, 30, 60, 240, 350, 600, 899])
@pytest.mark.parametrize(("resolution", "parallel"), [(2, 6), (10, 4), (5, 1)])
def test_bisection_brackets_every_timeout_within_the_resolution(timeout, resolution, parallel):
    bracket, rounds, seconds = simulate(timeout, resolution=resolution, parallel=parallel)
    assert bracket.low < timeout <= bracket.high, bracket.as_dict()
    assert bracket.high - bracket.low <= resolution
    assert rounds <= 30 and seconds < 30 * timeout + 1000


def test_a_path_that_keeps_everything_up_to_max_idle_has_no_high():
    bracket, rounds, _seconds = simulate(10**6)
    assert bracket.as_dict() == {"low": 900, "high": None} and rounds == 1
    assert _plan.override_entry(bracket, "x") is None


def test_the_estimate_stays_within_max_duration_and_names_the_peer():
    plan = _plan.estimate(params(max_duration=1000))
    assert plan["rounds"][0] == [5, 28, 159, 900]
    assert plan["worst_case_seconds"] <= 1000
    assert plan["peer"] == "10.0.0.2" and plan["port"] == 47001
    assert plan["connections_at_once"] == 4


@pytest.mark.parametrize(("ending", "layer"), [("silent_drop", 4), ("reset", 4), ("fin", 7)])
def test_the_override_entry_is_the_safe_side_and_says_how_it_was_measured(ending, layer):
    bracket = _plan.Bracket()
    bracket.record(347, "alive")
    bracket.record(352, ending)
    entry = _plan.override_entry(bracket, "corp-nat")
    assert entry["name"] == "corp-nat" and entry["idle_timeout"] == 347
    assert entry["layer"] == layer
    assert "(347, 352] s, ends flows by %s" % ending in entry["description"]


def test_the_350_s_nat_of_docs_probe_md_takes_three_rounds_and_about_1150_s():
    bracket, rounds, seconds = simulate(350, resolution=10, parallel=8)
    assert bracket.as_dict() == {"low": 348, "high": 351}
    assert rounds == 3 and seconds == 1149

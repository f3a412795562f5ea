"""Detection model: idle and busy figures by the kernel's rules, and the tcp_retries2 proposal.

The kernel measurements behind these rules are tests/integration/test_detection_kernel.py.
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._detection import (
    busy_timeout,
    detection_busy,
    detection_idle,
    earliest_busy_drop,
    retransmission_times,
    smallest_retries2,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError


@pytest.mark.parametrize(
    ("values", "user_timeout", "seconds"),
    [
        ((7200, 75, 9), None, 7875.0),  # Linux defaults
        ((180, 20, 3), None, 240.0),
        ((1, 1, 1), None, 2.0),  # smallest values
        ((32767, 32767, 127), None, 32767.0 + 32767 * 127),  # largest values
        ((1, 1, 3), None, 4.0),
        # TCP_USER_TIMEOUT: the first firing with a probe out and U elapsed drops it
        ((1, 2, 5), 4, 5.0),  # shorter than intvl x probes: 1 + 2 x 2
        ((1, 2, 5), 5, 5.0),  # exactly on a firing
        ((1, 2, 5), 5.001, 7.0),  # just past one: the next
        ((1, 1, 2), 6, 6.0),  # longer than intvl x probes: probes go on past the count
        ((10, 5, 3), 0.5, 15.0),  # U before the first probe: still one probe, one interval
        ((7200, 75, 9), 30, 7275.0),
        ((1, 1, 3), 0, 4.0),  # 0 is the kernel's "not set"
    ],
)
def test_detection_idle(values, user_timeout, seconds):
    assert detection_idle(*values, user_timeout=user_timeout) == seconds


@pytest.mark.parametrize(
    ("retries2", "rto_max", "seconds"),
    [
        (15, 120.0, 924.6),  # ip-sysctl.rst's figure for the default
        (0, 120.0, 0.2),
        (1, 120.0, 0.6),
        (3, 120.0, 3.0),
        (5, 120.0, 12.6),
        (8, 120.0, 102.2),  # RFC 1122's at least 100 s
        (9, 120.0, 204.6),  # last value before the cap: ilog2(120 / 0.2) = 9
        (10, 120.0, 324.6),
        (5, 1.0, 4.4),  # tcp_rto_max_ms=1000: ilog2(1 / 0.2) = 2, then 1 s steps
        (15, 1.0, 14.4),
        (255, 120.0, 204.6 + 246 * 120),
    ],
)
def test_busy_timeout(retries2, rto_max, seconds):
    assert busy_timeout(retries2, rto_max) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        # At exactly the 200 ms floor the clock (first retransmission) starts one RTO late:
        # the retries2 + 1-th expiry falls 0.2 s short and the drop waits one more RTO.
        ((15,), 1044.6),
        ((3,), 6.2),
        ((0,), 0.6),  # always one retransmission
        ((1,), 1.4),
        # An RTO a jiffy above the floor backs off faster and reaches the threshold sooner.
        ((15, 0.201), 925.623),  # HZ=1000
        ((15, 0.204), 928.692),  # HZ=250
        ((3, 0.204), 6.324),
        ((4, 0.204), 12.852),
        ((5, 0.204), 12.852),
        ((5, 0.204, 1.0), 5.428),  # tcp_rto_max_ms=1000
        ((3, 0.25), 3.75),  # a longer RTO: 3 retransmissions, then 3.5 s past the first
        # TCP_USER_TIMEOUT replaces retries2 and counts from the first retransmission
        ((15, 0.2, 120.0, 2.5), 2.7),
        ((3, 0.204, 120.0, 5), 5.204),  # longer than retries2's figure: U still decides
        ((15, 0.2, 120.0, 0.1), 0.3),  # shorter than one RTO
        ((15, 0.2, 120.0, 0), 1044.6),  # 0: not set
    ],
)
def test_detection_busy(args, seconds):
    assert detection_busy(*args) == pytest.approx(seconds, abs=1e-9)


def test_retransmission_times():
    assert retransmission_times(5, 0.204, 1.0) == {
        "retransmissions": [0.204, 0.612, 1.428, 2.428, 3.428, 4.428],
        "dropped": 5.428,
        "earliest": 4.604,
        "threshold": 4.4,
    }
    times = retransmission_times(15)
    assert len(times["retransmissions"]) == 16
    assert times["retransmissions"][:4] == [0.2, 0.6, 1.4, 3.0]
    assert (times["earliest"], times["threshold"]) == (924.8, 924.6)
    clamped = retransmission_times(15, 0.2, 120.0, user_timeout=2.5)
    assert clamped["retransmissions"] == [0.2, 0.6, 1.4]
    assert clamped["dropped"] == pytest.approx(2.7)


@pytest.mark.parametrize(
    ("args", "seconds"),
    [((15,), 924.8), ((3,), 3.2), ((3, 0.204), 3.204), ((15, 0.2, 120.0, 2.5), 2.7)],
)
def test_earliest_busy_drop(args, seconds):
    assert earliest_busy_drop(*args) == pytest.approx(seconds, abs=1e-9)


def test_busy_figures_grow_with_retries2():
    for rto in (0.2, 0.201, 0.204, 1.0):
        figures = [detection_busy(n, rto) for n in range(40)]
        earliest = [earliest_busy_drop(n, rto) for n in range(40)]
        assert figures == sorted(figures)
        assert earliest == sorted(earliest)
        assert all(low <= high for low, high in zip(earliest, figures, strict=True))


@pytest.mark.parametrize(
    ("args", "retries2", "detection", "tolerates", "reason"),
    [
        ((120, 30), 7, 102.2, 51.2, r"6 can drop it after 25.6 s"),
        ((2000, 100), 8, 204.6, 102.4, r"cannot drop a busy connection before 102.4 s"),
        ((10, 0), 0, 0.6, 0.4, r"tolerate_outage 0 s"),
        ((30, 3.2), 3, 6.2, 3.2, r"within detect_busy_within 30 s"),  # 3.2 is covered
        ((30, 3.21), 4, 12.6, 6.4, r"3 can drop it after 3.2 s"),
        ((1100, 900, 0.2), 15, 1044.6, 924.8, r"14 can drop it after 804.8 s"),
        ((20, 4, 0.204, 1.0), 5, 5.428, 4.604, r"4 can drop it after 3.604 s"),
    ],
)
def test_smallest_retries2(args, retries2, detection, tolerates, reason):
    result = smallest_retries2(*args)
    assert (result["retries2"], result["detection"], result["tolerates"]) == (
        retries2,
        pytest.approx(detection),
        pytest.approx(tolerates),
    )
    assert re.search(reason, result["reason"]), result["reason"]


def test_smallest_retries2_infeasible():
    with pytest.raises(KeepaliveError) as err:
        smallest_retries2(20, 30)
    assert str(err.value) == (
        "no tcp_retries2 satisfies both: surviving a 30 s outage with data in flight takes "
        "tcp_retries2=7 (6 can drop it after 25.6 s), which notices a dead peer only after "
        "102.2 s, over detect_busy_within 20 s by 82.2 s"
    )
    assert err.value.details["option"] == "detect_busy_within"
    with pytest.raises(
        KeepaliveError,
        match=r"tolerate_outage=100000000 s is out of reach: even tcp_retries2=255 can drop a "
        r"busy connection after 29724\.8 s",
    ):
        smallest_retries2(10**9, 10**8)


@pytest.mark.parametrize(
    ("call", "option", "message"),
    [
        (lambda: detection_idle(0, 1, 1), "time", r"time=0 is out of range: allowed "
         r"1\.\.32767"),
        (lambda: detection_idle(1, 32768, 1), "intvl", r"intvl=32768 is out of range"),
        (lambda: detection_idle(1, 1, 128), "probes", r"allowed 1\.\.127"),
        (lambda: detection_idle(True, 1, 1), "time", r"time must be an integer in "
         r"1\.\.32767, got True \(a boolean\)"),
        (lambda: detection_idle(1.5, 1, 1), "time", r"got 1\.5 \(float\)"),
        (lambda: detection_idle("60", 1, 1), "time", r"got '60' \(str\)"),
        (lambda: detection_idle(1, 1, 1, -1), "user_timeout", r"user_timeout=-1 is out of "
         r"range: allowed seconds in \(0\.\.2147483\.647\]"),
        (lambda: detection_idle(1, 1, 1, "5"), "user_timeout", r"must be a number"),
        (lambda: detection_busy(-1), "retries2", r"retries2=-1 is out of range: allowed "
         r"0\.\.255"),
        (lambda: detection_busy(256), "retries2", r"0\.\.255"),
        (lambda: detection_busy(15.0), "retries2", r"got 15\.0 \(float\)"),
        (lambda: detection_busy(15, 0), "rto_initial", r"rto_initial=0 is out of range: "
         r"allowed seconds in \(0\.\.120\.0\]"),
        (lambda: detection_busy(15, 2.0, 1.0), "rto_initial", r"\(0\.\.1\.0\]"),
        (lambda: detection_busy(15, 0.2, 0.5), "rto_max", r"rto_max=0\.5 is out of range: "
         r"allowed seconds in \[1\.0\.\.120\.0\]"),
        (lambda: detection_busy(15, float("nan")), "rto_initial", r"must be a number"),
        (lambda: busy_timeout(15, 121), "rto_max", r"rto_max=121"),
        (lambda: smallest_retries2(0, 30), "detect_busy_within", r"detect_busy_within=0 is "
         r"out of range"),
        (lambda: smallest_retries2(60, -1), "tolerate_outage", r"tolerate_outage=-1"),
        (lambda: smallest_retries2(60, None), "tolerate_outage", r"got None \(NoneType\)"),
    ],
)  # fmt: skip
def test_errors_name_argument_value_and_range(call, option, message):
    with pytest.raises(KeepaliveError, match=message) as err:
        call()
    assert err.value.details["option"] == option

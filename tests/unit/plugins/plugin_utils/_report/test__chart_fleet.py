"""The at-a-glance chart of a large fleet: grouped rows, worst first, every host counted."""

from __future__ import annotations

import copy

from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _chart as chart
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _model as model
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (
    report_fleet,
)


def fleet(count, varied=0):
    """``count`` copies of the four realistic hosts; ``varied`` of them get a keepalive time
    of their own (each its own group)."""
    base = report_fleet.fleet()
    hosts = []
    for number in range(count):
        host = copy.deepcopy(base[number % len(base)])
        host["host"] = "%s-%05d" % (host["host"], number)
        if number < varied:
            for key in ("runtime", "after"):
                if host.get(key):
                    host[key] = dict(host[key], time=100 + number)
            host["detection_seconds"] = host["detection_idle_seconds"] = None  # recomputed
        hosts.append(host)
    return model.build_report(hosts)["hosts"]


def test_a_small_fleet_has_a_row_per_host():
    hosts = fleet(chart.FLEET_HOST_ROWS)
    drawn = chart.fleet_chart(hosts)
    assert [row["host"] for row in drawn["rows"]] == [h["host"] for h in hosts]
    assert not drawn["grouped"]


def test_ten_thousand_hosts_draw_a_few_groups_worst_first_with_every_host_counted():
    hosts = fleet(10000)
    drawn = chart.fleet_chart(hosts)
    # Four kinds of host; two of them chart alike (same time, timeouts and busy figure).
    assert drawn["grouped"] and len(drawn["rows"]) == 3
    assert sum(row["hosts"] for row in drawn["rows"]) == 10000
    ranks = [chart.STATUS_RANK.get(row["status"], -1) for row in drawn["rows"]]
    assert ranks == sorted(ranks, reverse=True), ranks
    first = drawn["rows"][0]
    assert first["host"] == "%s +2499" % first["first"]
    assert first["text"].startswith("2500 hosts: ")
    assert drawn["height"] < 400


def test_groups_beyond_the_limit_are_one_row_that_says_what_it_holds():
    hosts = fleet(1000, varied=200)
    drawn = chart.fleet_chart(hosts)
    rows = drawn["rows"]
    assert len(rows) == chart.FLEET_GROUPS
    assert sum(row["hosts"] for row in rows) == 1000
    last = rows[-1]
    assert last["value"] is None and last["width"] == 0
    assert last["text"] == "%d more hosts in %d other groups (every host is in the table below)" % (
        last["hosts"],
        last["rest_groups"],
    )

"""The fleet report of 10,000 hosts in a real browser (Debian's headless chromium): the page
loads, lists every host in its hosts table, and the at-a-glance chart draws a few grouped
rows, not 10,000. The render time is a benchmark figure (benchmarks/bench_report.py)."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import tempfile

import pytest

from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _chart as chart
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import (
    _model as model,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import (
    _render as render,
)
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (
    report_fleet,
)

HOSTS = 10000
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1200,900"]  # fmt: skip


def fleet(count):
    base = report_fleet.fleet()
    hosts = []
    for number in range(count):
        host = copy.deepcopy(base[number % len(base)])
        host["host"] = "%s-%05d" % (host["host"], number)
        hosts.append(host)
    return hosts


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("%s is missing: install it with scripts/setup.sh" % CHROMIUM)
    dest = tmp_path_factory.mktemp("fleet-report")
    render.write_report(model.build_report(fleet(HOSTS)), str(dest), ["html"])
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        run = subprocess.run(
            [CHROMIUM, *FLAGS, "--user-data-dir=%s" % profile, "--dump-dom",
             (dest / "report.html").as_uri()],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]  # stderr carries dbus noise
    return run.stdout


def test_the_page_loads_and_lists_every_host(page):
    assert page.rstrip().endswith("</html>")
    hosts_card = page[page.index('id="hosts"') :]
    hosts_card = hosts_card[: hosts_card.index("</section>")]
    assert hosts_card.count("<tr") == HOSTS + 1  # a header row, then one row per host


def test_the_chart_draws_grouped_rows_not_one_per_host(page):
    glance = page[page.index('id="fleet-chart-title"') :]
    glance = glance[: glance.index("</svg>")]
    bars = re.findall(r'<rect class="bar [a-z]+"', glance)
    assert 1 <= len(bars) <= chart.FLEET_GROUPS, len(bars)
    assert re.search(r">\d+ hosts: ", glance), "a grouped row says how many hosts it holds"


def test_details_and_problem_tables_are_capped_and_say_where_the_rest_is(page):
    assert page.count('<section class="card host ') == render.HOST_SECTIONS
    assert "more: report.md and report.json list every one." in page

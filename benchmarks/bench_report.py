"""Benchmark the fleet report: build + write every format for 4 to 1000 hosts.

Run from the repository root with the dev venv:

    .venv/bin/python benchmarks/bench_report.py [--hosts 4 20 200 1000 10000] [--repeat 3]

The hosts are copies of the four realistic host reports of the unit tests (AWS NLB + NAT
gateway, Azure LB at 7200 s, Google Cloud NAT with a socket group without keepalive, Envoy +
NLB), renamed. For each size it prints the median seconds to build the document, to render
each format in memory, to write the default formats (json, markdown, html, junit: what the
audit playbook writes) and to write them all (with one Prometheus file per host), each file a
temp file + fsync + rename, and the sizes of report.json and report.html. ``render`` is the
report page of the fleet: build + html, the figure to hold under 10 s at 10,000 hosts;
``render cpu`` is the same in CPU seconds of this process (what other jobs on a shared machine
do not inflate).
Nothing leaves the temporary folder it writes into.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from _collection_path import import_collection  # noqa: E402

import_collection()  # the imports below find the working tree as the collection

from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import (  # noqa: E402
    _model as model,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import (  # noqa: E402
    _render as render,
)
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (  # noqa: E402
    report_fleet,
)


def hosts(count):
    base = report_fleet.fleet()
    result = []
    for number in range(count):
        host = copy.deepcopy(base[number % len(base)])
        host["host"] = "%s-%04d" % (host["host"], number)
        result.append(host)
    return result


def median_seconds(func, repeat):
    times = []
    for _round in range(repeat):
        start = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[4, 20, 200, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("%6s %8s %8s %8s %8s %8s %8s %8s %10s %10s %10s %10s" % (
        "hosts", "build", "json", "md", "html", "junit", "prom", "render", "write def",
        "write all", "html KiB", "render cpu",
    ))  # fmt: skip
    for count in args.hosts:
        figures, write_default, write, html_kib = measure(count, args.repeat)
        print("%6d %s %8.3f %10.3f %10.3f %10.0f %10.3f" % (
            count, " ".join("%8.3f" % f for f in figures), figures[0] + figures[3],
            write_default, write, html_kib, render_cpu(count),
        ))  # fmt: skip
        sys.stdout.flush()


def render_cpu(count):
    """CPU seconds of this process to build the document and render report.html."""
    data = hosts(count)
    start = time.process_time()
    render.render_html(model.build_report(data))
    return time.process_time() - start


def measure(count, repeat):
    """Median seconds of build and of each renderer, of writing everything; HTML size."""
    data = hosts(count)
    build, doc = median_seconds(lambda: model.build_report(data), repeat)
    figures = [build]
    for renderer in (render.render_json, render.render_markdown, render.render_html,
                     render.render_junit):  # fmt: skip
        figures.append(median_seconds(lambda r=renderer: r(doc), repeat)[0])
    figures.append(median_seconds(
        lambda: [render.render_prometheus(h, doc["generated_at"]) for h in doc["hosts"]], repeat,
    )[0])  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        write_default, _paths = median_seconds(
            lambda: render.write_report(doc, folder, render.DEFAULT_FORMATS), repeat
        )
        write, _paths = median_seconds(
            lambda: render.write_report(doc, folder, render.FORMATS), repeat
        )
        html_kib = (Path(folder) / "report.html").stat().st_size / 1024.0
    return figures, write_default, write, html_kib


if __name__ == "__main__":
    main()

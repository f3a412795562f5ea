"""Report files: JUnit parses with hosts x verdicts, Prometheus lines parse, every host shown."""

from __future__ import annotations

import datetime
import os
import re
import stat
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _chart as chart
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _model as model
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _render as render
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (
    report_fleet,
)

WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)
# The text exposition format: a sample line is name{label="value",...} number.
PROM_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\}'
    r" (?P<value>-?[0-9]+(?:\.[0-9]+)?)$"
)
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


@pytest.fixture(scope="module")
def doc():
    return model.build_report(report_fleet.fleet(), generated_at=WHEN)


def parse_prom(text):
    """{(name, frozenset(labels)): value}; fails on any line that is not valid."""
    helped, typed, samples = set(), set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("gauge", "counter"), line
            assert name not in typed, "TYPE twice: %s" % line
            typed.add(name)
        else:
            match = PROM_SAMPLE.match(line)
            assert match, "not a sample line: %r" % line
            name = match["name"]
            assert name in helped and name in typed, "sample before HELP/TYPE: %s" % line
            labels = frozenset(PROM_LABEL.findall(match["labels"]))
            assert (name, labels) not in samples, "duplicate series: %s" % line
            samples[(name, labels)] = float(match["value"])
    return samples


def series(samples, name, **labels):
    wanted = set(labels.items())
    return [value for (n, got), value in samples.items() if n == name and wanted <= set(got)]


def test_junit_has_a_testcase_per_host_and_verdict(doc):
    root = ET.fromstring(render.render_junit(doc))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [h["host"] for h in doc["hosts"]]
    cases = root.findall("testsuite/testcase")
    assert len(cases) == sum(len(h["verdicts"]) for h in doc["hosts"]) == int(root.get("tests"))
    failed = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert len(failed) == doc["verdict_totals"]["fail"] == int(root.get("failures"))
    assert ("azure-db-1", "middlebox_idle [azure_lb_standard]") in failed
    for suite, host in zip(suites, doc["hosts"], strict=True):
        assert int(suite.get("failures")) == host["counts"]["fail"]


def test_junit_warn_passes_with_its_message(doc):
    root = ET.fromstring(render.render_junit(doc))
    case = root.find(
        "testsuite[@name='proxy-app-1']/testcase[@name='application_heartbeat [envoy]']"
    )
    assert case.find("failure") is None
    assert case.find("properties/property[@name='status']").get("value") == "warn"
    assert case.find("system-out").text.startswith("WARN: Envoy (envoy) is a proxy")


def test_junit_escapes_hostile_text_and_covers_hosts_without_verdicts():
    nasty = 'a <b> & "c" ]]>'
    hosts = [
        {
            "host": "h1",
            "verdicts": [{"check": "x", "subject": nasty, "status": "fail", "message": nasty}],
        },
        {"host": "h2"},
    ]
    root = ET.fromstring(render.render_junit(model.build_report(hosts, generated_at=WHEN)))
    assert root.find("testsuite/testcase/failure").get("message") == nasty
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["x [%s]" % nasty, "report_present [h2]"]  # h2 judged nothing: unknown
    assert root.find("testsuite[@name='h2']/testcase/error") is not None


def test_prometheus_file_of_each_host_parses(doc):
    for host in doc["hosts"]:
        samples = parse_prom(render.render_prometheus(host, doc["generated_at"]))
        assert {dict(labels)["host"] for _name, labels in samples} == {host["host"]}
        assert series(samples, "netstack_keepalive_status") == [
            {"pass": 0, "warn": 1, "fail": 2, "unknown": 3}[host["status"]]
        ]
        for status in ("pass", "warn", "fail", "unknown"):
            got = series(samples, "netstack_keepalive_verdicts", status=status)
            assert got == [host["counts"][status]]


def test_prometheus_values_and_socket_counts(doc):
    gcp = next(h for h in doc["hosts"] if h["host"] == "gcp-worker-1")
    samples = parse_prom(render.render_prometheus(gcp, doc["generated_at"]))
    assert series(samples, "netstack_keepalive_time_seconds", kind="runtime") == [7200]
    assert series(samples, "netstack_keepalive_time_seconds", kind="after") == [180]
    assert series(samples, "netstack_keepalive_time_seconds", kind="boot") == [180]
    assert series(samples, "netstack_keepalive_probes", kind="intended") == [3]
    assert series(samples, "netstack_keepalive_detection_seconds") == [240]
    assert series(samples, "netstack_keepalive_detection_busy_seconds") == [204.6]
    assert series(
        samples, "netstack_keepalive_sockets", unit="worker.service", keepalive="true"
    ) == [8]
    assert series(
        samples, "netstack_keepalive_sockets", unit="legacy-sync.service", keepalive="false"
    ) == [2]
    assert series(samples, "netstack_keepalive_report_timestamp_seconds") == [1795339805]


def test_prometheus_counts_sockets_waiting_on_a_silent_peer(doc):
    hosts = {h["host"]: h for h in doc["hosts"]}
    gcp = parse_prom(render.render_prometheus(hosts["gcp-worker-1"]))
    assert series(gcp, "netstack_keepalive_sockets_retransmitting") == [3]  # 1 + 2
    assert series(gcp, "netstack_keepalive_sockets_probing") == [2]  # 2 + 0
    # aws-web-1: rows of a module that did not count them; azure-db-1: no sockets audit.
    for name in ("aws-web-1", "azure-db-1"):
        assert (hosts[name]["sockets_retransmitting"], hosts[name]["sockets_probing"]) == (
            None,
            None,
        )
        samples = parse_prom(render.render_prometheus(hosts[name]))
        assert series(samples, "netstack_keepalive_sockets_retransmitting") == []
        assert series(samples, "netstack_keepalive_sockets_probing") == []
        assert "netstack_keepalive_sockets_probing" not in render.render_prometheus(hosts[name])


def test_an_audit_that_found_no_sockets_counts_zero():
    planned = report_fleet.plan_values("cloud", [])
    values = (180, 20, 3)
    item = report_fleet.host_report(
        planned,
        "h",
        mode="audit",
        sysctl=report_fleet._sysctl(values, values),
        sockets={"summary": [], "namespaces": {}},
    )
    assert (item["sockets_retransmitting"], item["sockets_probing"]) == (0, 0)
    samples = parse_prom(render.render_prometheus(model.normalize_host(item)))
    assert series(samples, "netstack_keepalive_sockets_retransmitting") == [0]


def test_prometheus_escapes_label_values():
    hosts = [{"host": 'we"ird\\host', "boot_values": {"time": {"value": 1, "source": "a\nb"}}}]
    host = model.build_report(hosts, generated_at=WHEN)["hosts"][0]
    samples = parse_prom(render.render_prometheus(host))
    assert series(samples, "netstack_keepalive_boot_source_info", source="a\\nb") == [1]


@pytest.mark.parametrize(
    "host, file_name",
    [
        ("web-1", "web-1.prom"),
        ("web-1.example.com", "web-1.example.com.prom"),
        ("a/b c", "a_b_c.prom"),
        ("[::1]:22", "___1__22.prom"),
    ],
)
def test_prom_file_names_are_safe(host, file_name):
    assert render.prom_file_name(host) == file_name


def test_markdown_shows_every_host_and_problem(doc):
    text = render.render_markdown(doc)
    assert text.startswith("# TCP keepalive fleet report")
    assert "**Fleet status: FAIL**" in text
    for host in doc["hosts"]:
        assert "## %s: %s" % (host["host"], host["status"].upper()) in text
    for problem in doc["problems"]:
        assert "| %s | %s |" % (problem["status"].upper(), problem["host"]) in text
    # Every table row has as many cells as its header: pipes inside cells are escaped.
    header_cells = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header_cells = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        header_cells = header_cells or cells
        assert cells == header_cells, line
    assert text.index("## Problems") < text.index("## Hosts")
    assert "| audit | 2 h >= 240 s idle timeout | 2.2 h | 17 min |" in text  # the Azure path
    # Both figures per host: gcp-worker-1 reported tcp_retries2 8, the others did not.
    assert "| 240 s | 204.6 s |" in text
    assert "with data in flight (keepalive does not probe): 204.6 s (tcp_retries2 8;" in text
    assert "17 min (tcp_retries2 not read from the host: the kernel default 15 assumed;" in text


def test_html_shows_hosts_charts_and_failing_checks_first(doc):
    text = render.render_html(doc)
    # Self-contained: nothing is loaded from elsewhere; the only outside addresses are the
    # documentation links of the "how to fix" cells, which a reader follows by hand.
    loads_nothing = re.sub(r'<a href="https://[^"<>]+">docs</a>', "", text)
    assert "https://pkg.go.dev/net#KeepAliveConfig" in text
    assert "<script" not in text and "http://" not in text and "https://" not in loads_nothing
    assert text.index('id="failing-checks"') < text.index('id="host-aws-web-1"')
    for host in doc["hosts"]:
        assert 'id="%s"' % render.host_anchor(host["host"]) in text
    assert text.count("<svg") == len(doc["hosts"]) + 1  # the fleet chart and one per host
    assert (
        text.index('id="failing-checks"') < text.index('id="hosts"') < text.index('id="warnings"')
    )
    assert "azure_lb_standard 240 s" in text  # the timeout line of the failing path
    assert '<th class="num">Detection idle</th><th class="num">Detection busy</th>' in text
    assert "with data in flight 204.6 s (tcp_retries2 8)" in text


def test_html_escapes_host_data():
    hosts = [
        {
            "host": "<img src=x>",
            "verdicts": [
                {"check": "x", "subject": "s", "status": "fail", "message": "<b>boom</b>"}
            ],
        }
    ]
    text = render.render_html(model.build_report(hosts, generated_at=WHEN))
    assert "<img src=x>" not in text and "<b>boom</b>" not in text
    assert "&lt;b&gt;boom&lt;/b&gt;" in text


def test_write_report_writes_each_format_atomically(doc, tmp_path):
    dest = tmp_path / "report"
    paths = render.write_report(doc, str(dest), render.FORMATS)
    names = sorted(os.path.basename(p) for p in paths)
    assert names == sorted(
        ["report.json", "report.md", "report.html", "junit.xml"]
        + [h["host"] + ".prom" for h in doc["hosts"]]
    )
    assert sorted(os.listdir(dest)) == names  # no temp file left behind
    mode = stat.S_IMODE(os.stat(dest / "report.json").st_mode)
    assert mode == 0o644 & ~_umask()
    (dest / "report.md").write_text("old")
    inode = os.stat(dest / "report.md").st_ino
    render.write_report(doc, str(dest), ["markdown"])
    assert os.stat(dest / "report.md").st_ino != inode  # replaced by rename, not rewritten
    assert (dest / "report.md").read_text().startswith("# TCP keepalive fleet report")


def test_write_report_default_formats_leave_out_prometheus(doc, tmp_path):
    paths = render.write_report(doc, str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == [
        "junit.xml",
        "report.html",
        "report.json",
        "report.md",
    ]


@pytest.mark.parametrize(
    "formats, dest, message",
    [
        (["json", "pdf"], None, "formats: pdf not known; allowed: json, markdown"),
        ([], None, "formats: expected a non-empty list of json, markdown"),
        ("json", None, "formats: expected a non-empty list of json"),
        (["json"], "file", "dest=%s: cannot create the folder: it exists and is not a regular"),
        (["json"], "under-file", "dest=%s: cannot create the folder: [Errno 20] Not a directory"),
    ],
)
def test_write_report_errors(doc, tmp_path, formats, dest, message):
    target = tmp_path / "out"
    if dest == "file":
        target.write_text("a file, not a folder")
        message = "dest=%s: cannot create the folder: it exists and is "
    if dest == "under-file":
        (tmp_path / "plain").write_text("")
        target = tmp_path / "plain" / "out"
    with pytest.raises(KeepaliveError) as caught:
        render.write_report(doc, str(target), formats)
    assert str(caught.value).startswith(message.replace("%s", str(target)))
    assert not (target.is_dir())


def snapshot(folder):
    """{name: (bytes, inode)} of every entry: a changed, added or removed file shows."""
    return {
        p.name: (p.read_bytes() if p.is_file() else "dir", p.stat().st_ino)
        for p in folder.iterdir()
    }


@pytest.fixture
def previous(doc, tmp_path):
    """A destination holding a complete previous report set."""
    dest = tmp_path / "report"
    render.write_report(doc, str(dest), render.FORMATS)
    return dest


def new_doc():
    return model.build_report(
        [{"host": "new-1", "verdicts": [{"check": "c", "status": "fail"}]}], generated_at=WHEN
    )


def test_a_directory_in_the_way_changes_nothing(previous):
    (previous / "junit.xml").unlink()
    (previous / "junit.xml").mkdir()  # the fourth of the files cannot be replaced
    before = snapshot(previous)
    with pytest.raises(KeepaliveError) as caught:
        render.write_report(new_doc(), str(previous), render.FORMATS)
    assert str(caught.value) == (
        "dest=%s: junit.xml is in the way (a directory); the report replaces regular files only"
        % previous
    )
    assert snapshot(previous) == before  # no temp file, every old file as it was


def test_a_rename_failing_half_way_puts_the_previous_set_back(previous, monkeypatch):
    before = snapshot(previous)
    real_replace = os.replace
    calls = []

    def replace(source, target):
        calls.append(target)
        if len(calls) == 3 and str(target).endswith("report.html"):
            raise OSError(28, "No space left on device", target)
        return real_replace(source, target)

    monkeypatch.setattr(render.os, "replace", replace)
    with pytest.raises(KeepaliveError) as caught:
        render.write_report(new_doc(), str(previous), render.FORMATS)
    monkeypatch.undo()
    message = str(caught.value)
    assert message.startswith("dest=%s: cannot write the report ([Errno 28] No space" % previous)
    assert "the previous files are as they were" in message
    after = snapshot(previous)
    # Byte for byte the old set; new-1.prom (a file that did not exist) is gone again.
    assert {n: v[0] for n, v in after.items()} == {n: v[0] for n, v in before.items()}
    assert "new-1.prom" not in after
    assert [os.path.basename(str(t)) for t in calls[:2]] == ["report.json", "report.md"]


def test_a_read_only_destination_changes_nothing(previous):
    before = snapshot(previous)
    previous.chmod(0o500)
    try:
        if os.access(previous, os.W_OK):
            pytest.skip("root ignores directory permissions")
        with pytest.raises(KeepaliveError, match="cannot write the report .*Permission denied"):
            render.write_report(new_doc(), str(previous), render.FORMATS)
    finally:
        previous.chmod(0o755)
    assert snapshot(previous) == before


def test_a_write_failing_half_way_leaves_no_temp_file(previous, monkeypatch):
    # The third temporary file cannot be written (a full disk): the two before it go again.
    before = snapshot(previous)
    real_fdopen = os.fdopen
    opened = []

    def fdopen(handle, *args, **kwargs):
        opened.append(handle)
        if len(opened) == 3:
            os.close(handle)
            raise OSError(28, "No space left on device")
        return real_fdopen(handle, *args, **kwargs)

    monkeypatch.setattr(render.os, "fdopen", fdopen)
    with pytest.raises(KeepaliveError, match=r"cannot write the report \(\[Errno 28\]"):
        render.write_report(new_doc(), str(previous), render.FORMATS)
    monkeypatch.undo()
    assert len(opened) == 3
    assert snapshot(previous) == before


def test_a_failing_renderer_writes_nothing(doc, tmp_path, monkeypatch):
    def broken(_doc):
        raise KeepaliveError("html: boom")

    monkeypatch.setattr(render, "render_html", broken)
    dest = tmp_path / "never"
    with pytest.raises(KeepaliveError, match="html: boom"):
        render.write_report(doc, str(dest), render.FORMATS)
    assert not dest.exists()  # rendered in memory first: not even the folder was made


def test_two_hosts_with_one_prom_file_name_are_refused(tmp_path):
    doc = model.build_report([{"host": "a/b"}, {"host": "a_b"}], generated_at=WHEN)
    with pytest.raises(KeepaliveError) as caught:
        render.write_report(doc, str(tmp_path / "r"), ["json", "prometheus"])
    assert str(caught.value).startswith(
        "formats: prometheus: hosts a/b and a_b both map to the file a_b.prom"
    )
    assert not (tmp_path / "r").exists()


def test_unknown_host_shows_in_every_format(tmp_path):
    doc = model.build_report(
        [{"host": "web-1", "verdicts": [{"check": "c", "status": "pass"}]}, {"host": "bare-1"}],
        unseen={"lost-1": "unreachable"},
        generated_at=WHEN,
    )
    assert doc["status"] == "unknown" and doc["totals"]["unknown"] == 2
    render.write_report(doc, str(tmp_path), render.FORMATS)
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert junit.get("errors") == "2" and junit.get("failures") == "0"
    errors = {
        c.get("classname"): c.find("error").get("message")
        for c in junit.iter("testcase")
        if c.find("error") is not None
    }
    assert errors == {
        "bare-1": "the host report has no verdicts: nothing on the host was judged",
        "lost-1": "no host report: unreachable",
    }
    for name in ("bare-1", "lost-1"):
        samples = parse_prom((tmp_path / ("%s.prom" % name)).read_text())
        assert series(samples, "netstack_keepalive_status") == [3]
        assert series(samples, "netstack_keepalive_verdicts", status="unknown") == [1]
    markdown = (tmp_path / "report.md").read_text()
    assert (
        "**Fleet status: UNKNOWN**" in markdown and "1 pass, 0 warn, 0 fail, 2 unknown" in markdown
    )
    assert (
        "| UNKNOWN | lost-1 | report_present | lost-1 | no host report: unreachable |" in markdown
    )
    assert "## bare-1: UNKNOWN" in markdown
    html = (tmp_path / "report.html").read_text()
    assert '<header class="fleet status-unknown">' in html
    assert 'id="unknown-hosts"' in html and "Hosts not audited: unknown (2)" in html
    assert '<span class="badge unknown">UNKNOWN</span>' in html
    assert '"unknown": 2' in (tmp_path / "report.json").read_text()


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "unknown"),
        (1, "1 s"),
        (240, "240 s"),
        (599, "599 s"),
        (600, "10 min"),
        (1200, "20 min"),
        (3600, "1 h"),
        (7200, "2 h"),
        (7875, "2.2 h"),
        (86400, "1 d"),
        (650, "11 min"),
    ],
)
def test_human_seconds(seconds, text):
    assert chart.human_seconds(seconds) == text


def _chart_host(**extra):
    return model.normalize_host(dict({"host": "h"}, **extra))


@pytest.mark.parametrize(
    "extra, labels, statuses",
    [
        ({}, [], []),
        (
            {
                "after": {"time": 7200, "intvl": 75, "probes": 9},
                "path": [{"id": "az", "layer": 4, "idle_timeout": 240}],
            },
            ["keepalive time", "detection time"],
            ["fail", "info"],
        ),
        (
            {
                "after": {"time": 180, "intvl": 20, "probes": 3},
                "runtime": {"time": 7200, "intvl": 75, "probes": 9},
                "intended": {"time": 180, "intvl": 20, "probes": 3},
                "path": [{"id": "nat", "layer": 4, "idle_timeout": 350}],
            },
            ["time before this run", "keepalive time", "detection time"],
            ["old", "pass", "info"],
        ),
        ({"intended": {"time": 180, "intvl": 20, "probes": 3}}, ["intended time"], ["intended"]),
        (
            {
                "path": [{"id": "nat", "layer": 4, "idle_timeout": 350}],
                "adoption": {
                    "summary": [
                        {
                            "unit": "a.service",
                            "state": "established",
                            "keepalive": False,
                            "count": 2,
                        },
                        {
                            "unit": "b",
                            "state": "established",
                            "keepalive": True,
                            "idle": 7200,
                            "count": 1,
                        },
                        {"unit": "c", "state": "listen", "keepalive": False, "count": 1},
                    ]
                },
            },
            ["sockets: a", "sockets: b"],
            ["fail", "fail"],
        ),
    ],
)
def test_chart_bars(extra, labels, statuses):
    drawn = chart.host_chart(_chart_host(**extra))
    bars = drawn["bars"] if drawn else []
    assert [b["label"] for b in bars] == labels
    assert [b["status"] for b in bars] == statuses


def test_chart_uses_verdict_status_and_log_scale():
    host = _chart_host(
        after={"time": 300, "intvl": 10, "probes": 3},
        path=[
            {"id": "lb", "layer": 4, "idle_timeout": 350},
            {"id": "nat", "layer": 4, "idle_timeout": 350},
            {"id": "proxy", "layer": 7, "idle_timeout": 3600},
        ],
        verdicts=[
            {"check": "middlebox_idle", "status": "warn"},
            {"check": "detection_time", "status": "pass", "limit": 600},
        ],
    )
    drawn = chart.host_chart(host)
    assert [b["status"] for b in drawn["bars"]] == ["warn", "pass"]
    assert [(t["label"], t["layer"]) for t in drawn["timeouts"]] == [
        ("lb, nat 350 s", 4),
        ("proxy 1 h", 7),
    ]
    ticks = [t["x"] for t in drawn["ticks"]]
    assert ticks == sorted(ticks)
    # Log scale: 60 -> 600 s spans as many pixels as 360 -> 3600 s.
    scale = chart._LogScale(60, 7200)
    assert abs((scale.x(600) - scale.x(60)) - (scale.x(3600) - scale.x(360))) < 0.2
    detection = drawn["bars"][1]
    assert detection["end"] < detection["limit_x"] < drawn["plot_right"]  # 330 s, limit 600 s


def test_chart_labels_do_not_overlap():
    path = [
        {"id": "box%d" % n, "layer": 4, "idle_timeout": t}
        for n, t in enumerate((240, 250, 300, 350, 360))
    ]
    drawn = chart.host_chart(_chart_host(path=path))
    rows = {}
    for line in drawn["timeouts"]:
        start = line["label_x"]
        end = start + len(line["label"]) * chart.LABEL_CHARS_PX
        for other_start, other_end in rows.get(line["row"], []):
            assert end < other_start or start > other_end
        rows.setdefault(line["row"], []).append((start, end))
    assert drawn["label_rows"] > 1


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    "extra, status, text",
    [
        (
            {
                "after": {"time": 7200, "intvl": 75, "probes": 9},
                "path": [{"id": "az", "layer": 4, "idle_timeout": 240}],
            },
            "fail",
            "2 h >= 240 s idle timeout",
        ),
        (
            {
                "after": {"time": 180, "intvl": 20, "probes": 3},
                "path": [
                    {"id": "nat", "layer": 4, "idle_timeout": 350},
                    {"id": "proxy", "layer": 7, "idle_timeout": 60},
                ],
            },
            "pass",
            "180 s < 350 s idle timeout",
        ),
        (
            {"runtime": {"time": 180, "intvl": 20, "probes": 3}},
            "info",
            "180 s; no layer-4 idle timeout known",
        ),
        (
            {"path": [{"id": "nat", "layer": 4, "idle_timeout": 350}]},
            "info",
            "no keepalive values reported",
        ),
        (
            {
                "after": {"time": 180, "intvl": 20, "probes": 3},
                "path": [{"id": "nat", "layer": 4, "idle_timeout": 1200}],
                "adoption": {
                    "summary": [
                        {"unit": "a", "state": "established", "keepalive": False, "count": 2},
                        {"unit": "b", "state": "listen", "keepalive": False, "count": 1},
                    ]
                },
            },
            "pass",
            "180 s < 20 min idle timeout · 2 sockets keepalive off",
        ),
    ],
)
def test_fleet_chart_rows(extra, status, text):
    drawn = chart.fleet_chart([_chart_host(**extra)])
    (row,) = drawn["rows"]
    assert (row["status"], row["text"]) == (status, text)
    assert row["text_status"] == ("fail" if "keepalive off" in text else status)
    assert len(row["ticks"]) == len([b for b in extra.get("path", []) if b["layer"] == 4])


def test_fleet_chart_marks_the_busy_detection_in_the_host_row():
    after = {"time": 180, "intvl": 20, "probes": 3}
    path = [{"id": "nat", "layer": 4, "idle_timeout": 350}]
    busy = _chart_host(after=after, path=path, detection_busy_seconds=924.6)
    older = _chart_host(host="old", after=after, path=path)  # no detection_busy_seconds
    drawn = chart.fleet_chart([busy, older])
    first, second = drawn["rows"]
    assert drawn["busy"] is True
    assert first["busy"] == 924.6
    # On the same log scale as the bar: past the keepalive time and the 350 s tick, and in
    # the plot (the scale's top grows to take it).
    bar_end = drawn["plot_left"] + first["width"]
    assert bar_end < first["ticks"][0] < first["busy_x"] < drawn["plot_right"]
    assert (second["busy"], second["busy_x"]) == (None, None)
    assert chart.fleet_chart([older])["busy"] is False
    # A busy figure far above the idle ones still fits in the plot.
    slow = _chart_host(after=after, detection_busy_seconds=100000)
    (row,) = chart.fleet_chart([slow])["rows"]
    assert drawn["plot_left"] < row["busy_x"] < drawn["plot_right"]


def test_html_fleet_chart_has_a_busy_mark_per_host_that_has_one(doc):
    text = render.render_html(doc)
    glance = text[text.index('id="hosts"') : text.index("</svg>", text.index('id="hosts"'))]
    assert glance.count('<path class="busy"') == len(doc["hosts"])
    assert "aws-web-1: busy detection " in glance
    assert "busy detection: a dead peer noticed with data in flight" in text
    older = model.build_report(
        [{"host": "old", "after": {"time": 60, "intvl": 10, "probes": 3}, "verdicts": []}],
        generated_at=WHEN,
    )
    text = render.render_html(older)
    assert '<path class="busy"' not in text
    assert "busy detection: a dead peer" not in text


def test_fleet_chart_needs_something_to_draw():
    assert chart.fleet_chart([_chart_host()]) is None
    assert chart.fleet_chart([]) is None


def test_axis_ticks_do_not_crowd():
    host = _chart_host(
        runtime={"time": 30, "intvl": 1, "probes": 1}, path=[{"layer": 4, "idle_timeout": 86400}]
    )
    ticks = chart.fleet_chart([host])["ticks"]
    gaps = [b["x"] - a["x"] for a, b in zip(ticks, ticks[1:], strict=False)]
    assert gaps and min(gaps) >= 42


def test_an_older_host_report_without_the_busy_keys_still_renders():
    hosts = [{"host": "old", "after": {"time": 60, "intvl": 10, "probes": 3}, "verdicts": []}]
    doc = model.build_report(hosts, generated_at=WHEN)
    host = doc["hosts"][0]
    assert (host["detection_idle_seconds"], host["detection_busy_seconds"]) == (90, None)
    samples = parse_prom(render.render_prometheus(host))
    assert series(samples, "netstack_keepalive_detection_seconds") == [90]
    assert series(samples, "netstack_keepalive_detection_busy_seconds") == []
    assert "with data in flight (keepalive does not probe): unknown (not reported;" in (
        render.render_markdown(doc)
    )

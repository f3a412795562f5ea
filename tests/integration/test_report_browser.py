"""The fleet report in a real browser (Debian's headless chromium) and through ansible-playbook.

Four realistic hosts (tests/unit/plugins/plugin_utils/report_fleet.py): AWS NLB + NAT gateway
passing, Azure LB failing at 7200 s, Google Cloud NAT with a socket group without keepalive,
Envoy + NLB with an application heartbeat warning.

chromium comes from the project's scripts/setup.sh (`apt-get install -y chromium`); without it
these tests fail and say so, they are not skipped.
"""

from __future__ import annotations

import datetime
import json
import os
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import (
    _model as model,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import (
    _render as render,
)
from ansible_collections.netstack.keepalive.tests.unit.plugins.plugin_utils._report import (
    report_fleet,
)

REPO_ROOT = Path(__file__).resolve().parent.parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1200,900",
]
FAIL_RED = (0xC6, 0x28, 0x28)  # header background of a failing fleet (--fail in the CSS)
WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)
ANSIBLE_PLAYBOOK = REPO_ROOT / ".venv" / "bin" / "ansible-playbook"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    doc = model.build_report(report_fleet.fleet(), generated_at=WHEN)
    dest = tmp_path_factory.mktemp("report")
    render.write_report(doc, str(dest), render.FORMATS)
    return dest


def chromium(*args):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            "%s is missing: the HTML report must be checked in a real browser; install it "
            "with scripts/setup.sh (apt-get install -y chromium)" % CHROMIUM
        )
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        run = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, "--user-data-dir=%s" % profile, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    # stderr always carries dbus noise (see TOOLING.md): only the exit status counts.
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


class _Sections(HTMLParser):
    """Text of each element with an id, and every tag name seen (from the rendered DOM)."""

    def __init__(self):
        super().__init__()
        self.text, self.tags, self._open = {}, [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("br", "img", "meta", "link", "line", "rect", "i"):
            return
        self._open.append(dict(attrs).get("id"))

    def handle_endtag(self, tag):
        if tag in ("br", "img", "meta", "link", "line", "rect", "i") or not self._open:
            return
        self._open.pop()

    def handle_data(self, data):
        for section in filter(None, self._open):
            self.text[section] = self.text.get(section, "") + data + " "  # cells stay apart


def test_browser_shows_hosts_and_failing_checks(report_dir):
    dom = chromium("--dump-dom", (report_dir / "report.html").as_uri())
    page = _Sections()
    page.feed(dom)
    assert page.text["fleet-status"].strip() == "FAIL"
    failing = " ".join(page.text["failing-checks"].split())
    for host, check in [
        ("azure-db-1", "middlebox_idle"),
        ("azure-db-1", "detection_time"),
        ("azure-db-1", "shadowed"),
        ("gcp-worker-1", "socket_idle"),
    ]:
        assert "%s %s" % (host, check) in failing
    assert "Failing checks (4)" in failing
    assert "aws-web-1" not in failing  # a passing host is not listed among the failures
    assert "application_heartbeat" not in failing  # warnings have their own card, after
    assert "proxy-app-1 application_heartbeat envoy" in " ".join(page.text["warnings"].split())
    for host in ("aws-web-1", "azure-db-1", "gcp-worker-1", "proxy-app-1"):
        assert host in page.text["hosts"]
        assert page.text[render.host_anchor(host)].lstrip().startswith(host)
    assert page.tags.count("svg") == 5  # the fleet at a glance, then one chart per host
    glance = " ".join(page.text["hosts"].split())
    assert "2 h >= 240 s idle timeout" in glance  # the Azure row, in words
    assert page.tags.count("rect") >= 10  # bars drawn by the browser's DOM, not just text
    assert "script" not in page.tags


def test_browser_screenshot_is_a_real_page(report_dir, tmp_path):
    shot = tmp_path / "report.png"
    chromium("--screenshot=%s" % shot, (report_dir / "report.html").as_uri())
    width, height, rows = read_png(shot.read_bytes(), max_rows=260)  # header and first failures
    assert (width, height) == (1200, 900)
    assert shot.stat().st_size > 40_000, "a blank page compresses to a few kB"
    assert rows[10][10] == FAIL_RED, "the header shows the failing fleet in red"
    colours = {pixel for row in rows for pixel in row[::3]}
    assert len(colours) > 100, "text, tables and badges give many colours (anti-aliasing)"


def read_png(data, max_rows):
    """Width, height and the first ``max_rows`` rows of RGB pixels of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour_type, _compression, _filter_method, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 4 if colour_type == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for number in range(min(height, max_rows)):
        start = number * (stride + 1)
        line = _unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        rows.append([tuple(line[i : i + 3]) for i in range(0, stride, channels)])
        previous = line
    return width, height, rows


def _unfilter(kind, line, previous, channels):
    for i in range(len(line)):
        left = line[i - channels] if i >= channels else 0
        up = previous[i]
        upper_left = previous[i - channels] if i >= channels else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            guess = left + up - upper_left
            pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - upper_left)
            best = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
            line[i] = (line[i] + best) & 0xFF
    return line


# --- the action plugin through a real ansible-playbook ------------------------------------


PLAYBOOK = """
- name: Host reports as the role would leave them, then the fleet report
  hosts: all
  gather_facts: false
  tasks:
    - name: Set the host report fact (lost-1 never gets one)
      ansible.builtin.set_fact:
        tcp_keepalive_report: "{{ lookup('ansible.builtin.file', inventory_hostname ~ '.json')
                                  | from_json }}"
      when: inventory_hostname != 'lost-1'

    - name: Write the fleet report
      netstack.keepalive.keepalive_report:
        formats: "{{ report_formats }}"
        fail_on: "{{ report_fail_on }}"
      run_once: true
      register: fleet

    - name: Show the result
      ansible.builtin.copy:
        content: "{{ fleet | to_json }}"
        dest: "{{ playbook_dir }}/result.json"
        mode: "0644"
      run_once: true
      check_mode: false
"""


@pytest.fixture
def play_dir(tmp_path):
    names = []
    for host in report_fleet.fleet():
        (tmp_path / ("%s.json" % host["host"])).write_text(json.dumps(host))
        names.append(host["host"])
    names.append("lost-1")
    python = REPO_ROOT / ".venv" / "bin" / "python"
    (tmp_path / "inventory.ini").write_text(
        "".join(
            "%s ansible_connection=local ansible_python_interpreter=%s\n" % (name, python)
            for name in names
        )
    )
    (tmp_path / "report.yml").write_text(PLAYBOOK)
    return tmp_path


def run_playbook(
    play_dir,
    *args,
    formats=("json", "html", "junit", "prometheus"),
    fail_on="never",
    playbook="report.yml",
):
    env = dict(os.environ)
    env.update(
        ANSIBLE_HOME=str(play_dir / ".ansible"),
        ANSIBLE_LOCAL_TEMP=str(play_dir / ".ansible" / "tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    extra = json.dumps({"report_formats": list(formats), "report_fail_on": fail_on})
    # cwd is the play folder: the default dest ./keepalive-report lands there.
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "inventory.ini", playbook, "-e", extra, *args],
        cwd=play_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_playbook_writes_the_report_in_check_mode(play_dir):
    run = run_playbook(play_dir, "--check")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = play_dir / "keepalive-report"
    expected = ["junit.xml", "report.html", "report.json"] + [
        "%s.prom" % name
        for name in ("aws-web-1", "azure-db-1", "gcp-worker-1", "lost-1", "proxy-app-1")
    ]
    assert sorted(os.listdir(out)) == sorted(expected)
    doc = json.loads((out / "report.json").read_text())
    assert doc["schema_version"] == 1
    assert doc["totals"] == {
        "hosts": 5,
        "pass": 1,
        "warn": 1,
        "fail": 2,
        "unknown": 1,
        "changed": 2,
    }
    lost = next(h for h in doc["hosts"] if h["host"] == "lost-1")
    assert [v["check"] for v in lost["verdicts"]] == ["report_present"]
    assert len(ET.parse(out / "junit.xml").getroot().findall("testsuite")) == 5
    result = json.loads((play_dir / "result.json").read_text())
    assert result["changed"] is False and result["failed"] is False
    assert result["status"] == "fail"
    assert result["failing_hosts"] == ["azure-db-1", "gcp-worker-1"]
    assert result["unknown_hosts"] == ["lost-1"]
    assert sorted(result["paths"]) == sorted(str(out / name) for name in expected)
    assert "changed=0" in run.stdout.split("PLAY RECAP")[1]


@pytest.mark.slow
def test_playbook_fail_on_fails_after_writing(play_dir):
    run = run_playbook(play_dir, formats=["json"], fail_on="fail")
    assert run.returncode == 2, run.stdout[-3000:]
    assert (
        "fleet report FAIL: 5 hosts, 2 fail (azure-db-1, gcp-worker-1), 1 unknown (lost-1)"
    ) in run.stdout
    assert (play_dir / "keepalive-report" / "report.json").is_file()


ERRORS_PLAYBOOK = """
- name: Every way the report task refuses its input, each named in the message
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Unknown format
      netstack.keepalive.keepalive_report:
        hosts: [{host: a}]
        formats: [json, pdf]
      register: bad_format
      ignore_errors: true
    - name: A play host that is not in the inventory
      netstack.keepalive.keepalive_report:
        play_hosts: [nope]
      register: bad_host
      ignore_errors: true
    - name: A host report that is not one
      netstack.keepalive.keepalive_report:
        hosts: [{host: web-1, verdicts: all good}]
      register: bad_report
      ignore_errors: true
    - name: A folder that cannot be made
      netstack.keepalive.keepalive_report:
        hosts: [{host: a}]
        dest: "{{ playbook_dir }}/inventory.ini/sub"
      register: bad_dest
      ignore_errors: true
    - name: Record the results
      ansible.builtin.copy:
        content: "{{ {'format': bad_format, 'host': bad_host, 'report': bad_report,
                      'dest': bad_dest} | to_json }}"
        dest: "{{ playbook_dir }}/errors.json"
        mode: "0644"
"""


@pytest.mark.slow
def test_playbook_errors_are_named(play_dir):
    (play_dir / "errors.yml").write_text(ERRORS_PLAYBOOK)
    run = run_playbook(play_dir, playbook="errors.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    results = json.loads((play_dir / "errors.json").read_text())
    assert all(result["failed"] for result in results.values())
    assert "formats" in results["format"]["msg"] and "pdf" in results["format"]["msg"]
    assert results["host"]["msg"] == "play_hosts: nope is not in the inventory"
    assert results["report"]["msg"].startswith("host web-1: 'verdicts' must be a list of dicts")
    assert results["dest"]["msg"].startswith(
        "dest=%s: cannot create the folder" % (play_dir / "inventory.ini" / "sub")
    )
    assert not (play_dir / "keepalive-report").exists()


INSTALLED_PLAYBOOK = """
- name: The report from a collection installed with ansible-galaxy (templates as package data)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the report
      netstack.keepalive.keepalive_report:
        hosts: [{host: web-1, verdicts: [{check: middlebox_idle, status: fail, message: boom}]}]
        dest: "{{ playbook_dir }}/out"
"""


@pytest.mark.slow
def test_installed_collection_finds_its_templates(tmp_path):
    galaxy = str(REPO_ROOT / ".venv" / "bin" / "ansible-galaxy")
    # Only the installed copy: with the working tree on the path, galaxy would see it as
    # installed already and install nothing.
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "cols"),
        ANSIBLE_HOME=str(tmp_path / ".ansible"),
    )
    subprocess.run(
        [galaxy, "collection", "build", "--output-path", str(tmp_path), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    (tarball,) = tmp_path.glob("netstack-keepalive-*.tar.gz")
    subprocess.run(
        [galaxy, "collection", "install", "-p", str(tmp_path / "cols"), str(tarball)],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    installed = tmp_path / "cols" / "ansible_collections" / "netstack" / "keepalive"
    assert (
        installed / "plugins" / "plugin_utils" / "_report" / "templates" / "report.html.j2"
    ).is_file()
    (tmp_path / "installed.yml").write_text(INSTALLED_PLAYBOOK)
    run = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "installed.yml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "web-1" in html and "Failing checks (1)" in html

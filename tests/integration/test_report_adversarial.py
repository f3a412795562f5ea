"""keepalive_report through a real ansible-playbook on localhost, fed with crafted host facts.

Inventory hosts with ``ansible_connection=local``; each one gets its ``tcp_keepalive_report``
fact from ``set_fact``, then the action reads them from hostvars as it does after the role.

- Every bad input (a wrongly typed or out-of-range key of one host's fact, a fact that is no
  report, a bad option) fails the task with a message that names the inventory host (or the
  option), the key, the value and what is allowed; the previous report set in ``dest`` is
  byte for byte and inode for inode as it was, and no other file or folder appears.
- A host without the fact and a host whose fact is empty are ``unknown`` in every format,
  and ``fail_on: fail`` fails the run for them, after writing.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import xml.etree.ElementTree as ET
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
ANSIBLE_PLAYBOOK = REPO_ROOT / ".venv" / "bin" / "ansible-playbook"
WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)
GOOD_HOSTS = ("aws-web-1", "proxy-app-1")
PASSING = {"check": "kernel_limits", "subject": "time", "status": "pass", "message": "ok"}


def bad_fact(**keys):
    """A report for bad-1 that is fine but for ``keys``."""
    return dict({"schema": 1, "host": "bad-1", "verdicts": [PASSING]}, **keys)


# name, the fact of bad-1 (None: a valid one), options of the task, words the message carries
CASES = [
    (
        "detection-text",
        bad_fact(detection_seconds="abc"),
        {},
        "host bad-1: 'detection_seconds' must be an integer >= 0 or null, got 'abc' (str)",
    ),
    (
        "after-time-text",
        bad_fact(after={"time": "abc", "intvl": 20, "probes": 3}),
        {},
        "host bad-1: 'after.time' must be an integer -2147483648..2147483647 (what the sysctl "
        "stores), got 'abc' (str)",
    ),
    (
        "after-negative",
        bad_fact(after={"time": -5, "intvl": 20, "probes": 3}),
        {},
        "host bad-1: 'after.time' is -5, outside the kernel limits 1..32767, and no failing "
        "kernel_limits verdict (subject time) reports it",
    ),
    (
        "negative-idle-timeout",
        bad_fact(path=[{"id": "corp-fw", "layer": 4, "idle_timeout": -5}]),
        {},
        "host bad-1: 'path[0].idle_timeout' must be an integer 1..315360000 s or null, got -5",
    ),
    (
        "verdict-status",
        bad_fact(verdicts=[dict(PASSING, status="ok")]),
        {},
        "host bad-1: verdicts[0].status is 'ok' (str); allowed: pass, warn, fail",
    ),
    (
        "verdicts-text",
        bad_fact(verdicts="all good"),
        {},
        "host bad-1: 'verdicts' must be a list of dicts, got 'all good' (str)",
    ),
    (
        "mode",
        bad_fact(mode="apply"),
        {},
        "host bad-1: mode is 'apply' (str); allowed: enforce, audit",
    ),
    (
        "check-mode-text",
        bad_fact(check_mode="yes"),
        {},
        "host bad-1: 'check_mode' must be true, false or null, got 'yes' (str)",
    ),
    (
        "schema-2",
        bad_fact(schema=2),
        {},
        "host bad-1: host report schema 2 is not supported (supported: 1)",
    ),
    (
        "socket-count-text",
        bad_fact(adoption={"summary": [{"unit": "a", "count": "8"}]}),
        {},
        "host bad-1: 'adoption.summary[0].count' must be an integer 0..2147483647 or null, "
        "got '8' (str)",
    ),
    (
        "boot-value-text",
        bad_fact(boot_values={"time": {"value": "180", "source": "f:1"}}),
        {},
        "host bad-1: 'boot_values.time.value' must be an integer",
    ),
    (
        "fact-not-a-report",
        "abc",
        {},
        "host bad-1: the tcp_keepalive_report fact must be a host report (a dict), got 'abc'",
    ),
    (
        "fact-of-another-host",
        bad_fact(host="aws-web-1"),
        {},
        "host bad-1: its tcp_keepalive_report fact is about host 'aws-web-1' (str)",
    ),
    ("formats-empty", None, {"formats": []}, "formats: expected a non-empty list of json"),
    ("formats-unknown", None, {"formats": ["json", "pdf"]}, "pdf"),
    ("fail-on-unknown", None, {"fail_on": "sometimes"}, "fail_on"),
    ("dest-empty", None, {"dest": ""}, "dest: expected the folder to write the report into"),
    (
        "dest-under-a-file",
        None,
        {"dest": "{{ playbook_dir }}/inventory.ini/out"},
        "/inventory.ini/out: cannot create the folder",
    ),
    (
        "dest-blocked",
        None,
        {"dest": "{{ playbook_dir }}/blocked"},
        "junit.xml is in the way (a directory); the report replaces regular files only",
    ),
    ("hostvars-key-empty", None, {"hostvars_key": ""}, "hostvars_key: expected the name"),
    (
        "play-hosts-twice",
        None,
        {"play_hosts": ["bad-1", "bad-1"]},
        "play_hosts: bad-1 given more than once",
    ),
    (
        "play-hosts-unknown",
        None,
        {"play_hosts": ["nope"]},
        "play_hosts: nope is not in the inventory",
    ),
    (
        "hosts-without-name",
        None,
        {"hosts": [{"verdicts": []}]},
        "hosts: 'host' (the inventory name a report is about) must be a non-empty string",
    ),
    (
        "prom-names-collide",
        None,
        {"hosts": [{"host": "a/b"}, {"host": "a_b"}], "formats": ["json", "prometheus"]},
        "formats: prometheus: hosts a/b and a_b both map to the file a_b.prom",
    ),
]
OPTIONS = ("formats", "fail_on", "dest", "hostvars_key", "play_hosts", "hosts")

CASE_TASKS = """
- name: Give bad-1 the crafted fact of this case
  ansible.builtin.set_fact:
    tcp_keepalive_report: "{{ case.fact if case.fact is not none else valid_bad }}"
  when: inventory_hostname == 'bad-1'

- name: Write the report from the crafted facts
  netstack.keepalive.keepalive_report:
    dest: "{{ case.options.dest | default(previous_dir) }}"
    formats: "{{ case.options.formats | default(all_formats) }}"
    fail_on: "{{ case.options.fail_on | default('never') }}"
    hostvars_key: "{{ case.options.hostvars_key | default(omit) }}"
    play_hosts: "{{ case.options.play_hosts | default(omit) }}"
    hosts: "{{ case.options.hosts | default(omit) }}"
  run_once: true
  ignore_errors: true
  register: attempt

- name: Record what the task said
  ansible.builtin.copy:
    content: "{{ attempt | to_json }}"
    dest: "{{ results_dir }}/{{ case.name }}.json"
    mode: "0644"
  run_once: true
  check_mode: false
"""

PLAYBOOK = """
- name: Crafted host facts, then the fleet report from hostvars
  hosts: all
  gather_facts: false
  vars:
    all_formats: [json, markdown, html, junit, prometheus]
    valid_bad: {host: bad-1, verdicts: [{check: kernel_limits, subject: time, status: pass}]}
  tasks:
    - name: The role's own reports for the good hosts
      ansible.builtin.set_fact:
        tcp_keepalive_report: "{{ lookup('file', inventory_hostname + '.json') | from_json }}"
      when: inventory_hostname in good_hosts

    - name: An empty fact for empty-1 (lost-1 gets none at all)
      ansible.builtin.set_fact:
        tcp_keepalive_report: {}
      when: inventory_hostname == 'empty-1'

    - name: Every bad input, one at a time, into the folder with the previous report set
      ansible.builtin.include_tasks: case.yml
      loop: "{{ cases }}"
      loop_control:
        loop_var: case
        label: "{{ case.name }}"

    - name: The good hosts and the two without data (fail_on fail) into a fresh folder
      netstack.keepalive.keepalive_report:
        dest: "{{ playbook_dir }}/fresh"
        formats: "{{ all_formats }}"
        fail_on: fail
        play_hosts: [aws-web-1, proxy-app-1, empty-1, lost-1]
      run_once: true
      ignore_errors: true
      register: fresh

    - name: Record the result of the fresh run
      ansible.builtin.copy:
        content: "{{ fresh | to_json }}"
        dest: "{{ results_dir }}/fresh.json"
        mode: "0644"
      run_once: true
      check_mode: false
"""


def tree(folder):
    """{relative path: (bytes or 'dir', inode, mtime_ns)} of everything under ``folder``."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        content = "dir" if path.is_dir() else path.read_bytes()
        found[str(path.relative_to(folder))] = (content, info.st_ino, info.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """Run the playbook once; return (play folder, results, trees before and after)."""
    play = tmp_path_factory.mktemp("adversarial")
    fleet = {h["host"]: h for h in report_fleet.fleet()}
    for name in GOOD_HOSTS:
        (play / ("%s.json" % name)).write_text(json.dumps(fleet[name]))
    python = REPO_ROOT / ".venv" / "bin" / "python"
    names = list(GOOD_HOSTS) + ["bad-1", "empty-1", "lost-1"]
    (play / "inventory.ini").write_text(
        "".join(
            "%s ansible_connection=local ansible_python_interpreter=%s\n" % (name, python)
            for name in names
        )
    )
    (play / "report.yml").write_text(PLAYBOOK)
    (play / "case.yml").write_text(CASE_TASKS)
    # The previous report set every bad case aims at, and a folder with junit.xml in the way.
    previous = play / "previous"
    render.write_report(
        model.build_report(list(fleet.values()), generated_at=WHEN), str(previous), render.FORMATS
    )
    blocked = play / "blocked"
    blocked.mkdir()
    (blocked / "report.json").write_text('{"old": true}\n')
    (blocked / "junit.xml").mkdir()
    results = play / "results"
    results.mkdir()
    watched = {"previous": previous, "blocked": blocked}
    before = {name: tree(folder) for name, folder in watched.items()}
    top_before = sorted(os.listdir(play))
    extra = {
        "cases": [{"name": n, "fact": f, "options": o} for n, f, o, _w in CASES],
        "good_hosts": list(GOOD_HOSTS),
        "previous_dir": str(previous),
        "results_dir": str(results),
    }
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(play / ".ansible"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(play / ".ansible" / "tmp"),
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    run = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "inventory.ini", "report.yml", "-e", json.dumps(extra)],
        cwd=play,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    answers = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
    after = {name: tree(folder) for name, folder in watched.items()}
    top_after = sorted(p for p in os.listdir(play) if p not in ("fresh", ".ansible"))
    return play, answers, (before, after), (top_before, top_after)


@pytest.mark.slow
def test_every_bad_input_is_refused_clearly_and_writes_nothing(played):
    _play, answers, (before, after), (top_before, top_after) = played
    tried = len(CASES)
    clear = [
        name
        for name, _f, _o, words in CASES
        if answers[name]["failed"] and words in answers[name]["msg"]
    ]
    unclear = {name: answers[name].get("msg") for name, *_rest in CASES if name not in clear}
    assert unclear == {}
    for name, _fact, options, _words in CASES:
        message = answers[name]["msg"]
        assert "hosts[" not in message and "Traceback" not in message, message
        if not options:  # a bad fact: the message names the inventory host
            assert message.startswith("host bad-1: "), message
    # A file that appeared, vanished, or changed content, inode or mtime counts as written.
    files_written = sum(
        1
        for name in before
        for path in set(before[name]) | set(after[name])
        if before[name].get(path) != after[name].get(path)
    )
    assert (tried, len(clear), files_written) == (len(CASES), len(CASES), 0)
    assert top_after == top_before  # no new folder next to them either
    covered = {key for _n, _f, options, _w in CASES for key in options}
    assert covered == set(OPTIONS)
    for name, *_rest in CASES:
        print("%-22s %s" % (name, answers[name]["msg"]))
    print(
        "bad inputs tried %d, clear errors %d, files written on error %d"
        % (tried, len(clear), files_written)
    )


@pytest.mark.slow
def test_hosts_without_data_are_unknown_in_every_format(played):
    play, answers, _trees, _tops = played
    fresh = answers["fresh"]
    out = play / "fresh"
    # fail_on: fail fails for the unknown hosts, after the files are written.
    assert fresh["failed"] is True and fresh["status"] == "unknown"
    assert fresh["unknown_hosts"] == ["empty-1", "lost-1"]
    assert fresh["msg"].startswith(
        "fleet report UNKNOWN: 4 hosts, 0 fail, 2 unknown (empty-1, lost-1), 1 warn"
    )
    doc = json.loads((out / "report.json").read_text())
    assert doc["totals"] == {
        "hosts": 4,
        "pass": 1,
        "warn": 1,
        "fail": 0,
        "unknown": 2,
        "changed": 1,
    }
    status = {h["host"]: h["status"] for h in doc["hosts"]}
    assert status == {
        "aws-web-1": "pass",
        "empty-1": "unknown",
        "lost-1": "unknown",
        "proxy-app-1": "warn",
    }
    reasons = {p["host"]: p["message"] for p in doc["problems"] if p["status"] == "unknown"}
    assert reasons == {
        "empty-1": "no host report: its tcp_keepalive_report fact is empty",
        "lost-1": "no host report: the host has no tcp_keepalive_report fact (unreachable, or "
        "it failed before the report was built)",
    }
    markdown = (out / "report.md").read_text()
    assert "**Fleet status: UNKNOWN**" in markdown
    for name in ("empty-1", "lost-1"):
        assert "## %s: UNKNOWN" % name in markdown
        assert "| UNKNOWN | %s | report_present |" % name in markdown
    html = (out / "report.html").read_text()
    assert "status-unknown" in html and "Hosts not audited: unknown (2)" in html
    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.get("errors") == "2"
    errored = sorted(s.get("name") for s in junit.iter("testsuite") if s.get("errors") == "1")
    assert errored == ["empty-1", "lost-1"]
    for name in ("empty-1", "lost-1"):
        prom = (out / ("%s.prom" % name)).read_text()
        assert 'netstack_keepalive_status{host="%s"} 3' % name in prom
        assert 'netstack_keepalive_verdicts{host="%s",status="unknown"} 1' % name in prom
    assert sorted(os.listdir(out)) == sorted(
        ["report.json", "report.md", "report.html", "junit.xml"]
        + ["%s.prom" % n for n in ("aws-web-1", "proxy-app-1", "empty-1", "lost-1")]
    )

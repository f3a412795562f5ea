"""The filters: one plugin file each, same results as the policy code, errors as
AnsibleFilterError, docs."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _engine as policy

POLICY_FILTERS = [
    "keepalive_derive",
    "keepalive_verdicts",
    "keepalive_catalog",
    "keepalive_path",
    "keepalive_summary",
]
ROLE_FILTERS = ["keepalive_plan", "keepalive_host_report", "keepalive_role_inputs"]
FILTER_NAMES = POLICY_FILTERS + ROLE_FILTERS
ANSIBLE_DOC = Path(sys.executable).with_name("ansible-doc")
DEFAULTS = {"time": 7200, "intvl": 75, "probes": 9}


def _filter_module(name):
    module = importlib.import_module(
        "ansible_collections.netstack.keepalive.plugins.filter." + name
    )
    return module.FilterModule()


filters = SimpleNamespace(**{name: _filter_module(name).filters()[name] for name in FILTER_NAMES})


def test_filter_directory_holds_one_file_per_filter():
    filter_dir = Path(
        importlib.import_module(
            "ansible_collections.netstack.keepalive.plugins.filter.keepalive_derive"
        ).__file__
    ).parent
    assert sorted(path.stem for path in filter_dir.glob("*.py")) == sorted(FILTER_NAMES)
    assert not list(filter_dir.glob("*.yml"))


@pytest.mark.parametrize("name", FILTER_NAMES)
def test_each_filter_module_exposes_only_its_filter(name):
    assert list(_filter_module(name).filters()) == [name]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda: filters.keepalive_derive("database", ["aws_nlb", "aws_nat_gateway"])["values"],
            {"time": 90, "intvl": 10, "probes": 3},
        ),
        (
            lambda: filters.keepalive_derive(
                "cloud", ["azure_lb_standard"], profiles={"cloud": {"base": "cloud", "time": 200}}
            )["values"],
            {"time": 200, "intvl": 20, "probes": 3},
        ),
        (
            lambda: filters.keepalive_derive(
                {"detect_within": 600, "tolerate_outage": 60},
                [
                    {"id": "aws_nlb", "idle_timeout": 1200},
                    {"name": "corp-fw", "idle_timeout": 900, "layer": 4},
                ],
            )["values"],
            {"time": 540, "intvl": 20, "probes": 3},
        ),
        (
            lambda: [
                v["status"]
                for v in filters.keepalive_verdicts(DEFAULTS, ["aws_nat_gateway"])
                if v["check"] == "middlebox_idle"
            ],
            ["fail"],
        ),
        (
            lambda: filters.keepalive_verdicts(DEFAULTS, profile="cloud", socket_count=7200)[-1][
                "value"
            ],
            1.0,
        ),
        (lambda: filters.keepalive_catalog("aws_nat_gateway")["idle_timeout"], 350),
        (
            lambda: [
                b["origin"]
                for b in filters.keepalive_path(["aws_nlb", {"id": "aws_nlb", "idle_timeout": 90}])
            ],
            ["catalog", "user override"],
        ),
        (
            lambda: filters.keepalive_summary(filters.keepalive_verdicts(DEFAULTS, ["aws_alb"]))[
                "status"
            ],
            "warn",
        ),
    ],
)
def test_filters_return_policy_results(call, expected):
    assert call() == expected


def test_derive_filter_equals_the_policy_function():
    assert filters.keepalive_derive("cloud", ["aws_alb", "gcp_cloud_nat"]) == policy.derive(
        "cloud", ["aws_alb", "gcp_cloud_nat"]
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: filters.keepalive_derive({"detect_within": 20}),
            r"^keepalive_derive: profile 'inline': no keepalive values satisfy all constraints: "
            r".*short by 11 s",
        ),
        (lambda: filters.keepalive_derive("clod"), r"^keepalive_derive: unknown profile 'clod'"),
        (
            lambda: filters.keepalive_derive("cloud", [{"id": "aws_nlb", "idle_timeout": 10}]),
            r"idle_timeout=10 is out of range: allowed 60\.\.6000 s",
        ),
        (
            lambda: filters.keepalive_verdicts({"time": True, "intvl": 1, "probes": 1}),
            r"^keepalive_verdicts: values\.time must be an integer",
        ),
        (
            lambda: filters.keepalive_verdicts(DEFAULTS, socket_count=-5),
            r"socket_count=-5 is out of range",
        ),
        (
            lambda: filters.keepalive_catalog("aws_nat"),
            r"^keepalive_catalog: unknown middlebox id 'aws_nat'; did you mean: aws_nat_gateway",
        ),
        (lambda: filters.keepalive_path("aws_nlb"), r"^keepalive_path: path must be a list"),
        (
            lambda: filters.keepalive_summary([{"status": "ok"}]),
            r"^keepalive_summary: input must be a list of verdicts",
        ),
        (lambda: filters.keepalive_summary("fail"), r"^keepalive_summary: input must be a list"),
        # The role's filters pass the policy code's message on as it is.
        (lambda: filters.keepalive_plan("clod"), r"^unknown profile 'clod'"),
        (lambda: filters.keepalive_role_inputs([]), r"^role inputs must be a mapping"),
        (lambda: filters.keepalive_role_inputs({}), r"^role inputs are missing tcp_keepalive_"),
    ],
)
def test_errors_become_filter_errors(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


def _ansible_doc(*args):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    return subprocess.run(
        [str(ANSIBLE_DOC), "-t", "filter", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ansible_doc_renders_every_filter():
    """ansible-doc must find and parse the DOCUMENTATION, EXAMPLES and RETURN of each filter."""
    assert ANSIBLE_DOC.exists(), "ansible-doc not found next to %s" % sys.executable
    done = _ansible_doc("--json", *["netstack.keepalive.%s" % name for name in FILTER_NAMES])
    assert done.returncode == 0, done.stderr
    docs = json.loads(done.stdout)
    for name in FILTER_NAMES:
        entry = docs["netstack.keepalive.%s" % name]
        assert entry["doc"]["name"] == name
        assert entry["doc"]["short_description"]
        assert entry["examples"].strip()
        assert entry["return"]["_value"]["description"]


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    path: [aws_nlb, {id: aws_nat_gateway}, {name: corp-fw, idle_timeout: 900, layer: 4}, aws_alb]
    profiles: {mine: {base: database, tolerate_outage: 45}}
  tasks:
    - name: Derive through real templating (Ansible passes tagged, lazy containers)
      ansible.builtin.set_fact:
        derived: "{{ 'mine' | netstack.keepalive.keepalive_derive(path, profiles) }}"
        summary: >-
          {{ {'time': 7200, 'intvl': 75, 'probes': 9}
             | netstack.keepalive.keepalive_verdicts(path, profile='mine', profiles=profiles)
             | netstack.keepalive.keepalive_summary }}
    - name: Write what the filters returned
      ansible.builtin.copy:
        content: "{{ {'values': derived['values'], 'sysctl_args': derived.sysctl_args,
                      'status': summary.status, 'counts': summary.counts} | to_json }}"
        dest: "{{ out }}"
      check_mode: false
    - name: A typo fails with the close matches
      ansible.builtin.debug:
        msg: "{{ ['aws_nat'] | netstack.keepalive.keepalive_path }}"
"""


def test_filters_through_ansible_playbook(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "out.json"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    done = subprocess.run(
        [
            str(ANSIBLE_DOC.with_name("ansible-playbook")),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            "out=%s" % out,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert json.loads(out.read_text()) == {
        "values": {"time": 75, "intvl": 15, "probes": 3},
        "sysctl_args": {
            "tcp_keepalive_time": 75,
            "tcp_keepalive_intvl": 15,
            "tcp_keepalive_probes": 3,
        },
        "status": "fail",
        "counts": {"pass": 5, "warn": 1, "fail": 4},
    }, done.stdout + done.stderr
    # The last task fails, naming the bad item and what was meant.
    assert done.returncode == 2
    assert (
        "keepalive_path: path item 1: unknown middlebox id 'aws_nat'; did you mean: "
        "aws_nat_gateway" in done.stdout
    )

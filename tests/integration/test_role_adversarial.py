"""Every bad input, on real lab hosts: the role, the rollout and keepalive_sockets_info refuse
it with a message naming the variable (option), the value and what is allowed, and no host
changes (hash proof of every file and value a keepalive module could touch).

The tables hold one bad input per row. Rows are run LAB_HOSTS at a time: each host of a run
gets its own bad input as host variables, so one ansible-playbook run checks several rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _hostproof import host_state

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._sockets_info import (
    ARGUMENT_SPEC,
)

LAB_HOSTS = 6
pytestmark = pytest.mark.lab
SET_TASK = "Set net.ipv4.tcp_keepalive_time/_intvl/_probes and write our sysctl.d file"
ROLLOUT_APPLY = "Apply, persist and judge the host"
SHADOW = "/etc/sysctl.d/99-shadow.conf"

# (id, role variables, texts the failure must show: variable, value, what is allowed)
ROLE_CASES = [
    (
        "profile-int",
        {"tcp_keepalive_profile": 5},
        ["tcp_keepalive_profile=5", "a profile name (cloud"],
    ),
    (
        "profile-unknown",
        {"tcp_keepalive_profile": "no_such_profile"},
        ["tcp_keepalive_profile='no_such_profile'", "known profiles: cloud, database"],
    ),
    (
        "profile-list",
        {"tcp_keepalive_profile": ["cloud"]},
        ["tcp_keepalive_profile=['cloud']", "a profile name"],
    ),
    (
        "inline-field-type",
        {"tcp_keepalive_profile": {"detect_within": "forty"}},
        ["tcp_keepalive_profile=", "'forty'", "must be an integer in 2.."],
    ),
    (
        "inline-field-range",
        {"tcp_keepalive_profile": {"detect_within": 40, "margin": -4}},
        ["tcp_keepalive_profile=", "margin=-4 is out of range", "allowed 0.."],
    ),
    (
        "inline-unknown-key",
        {"tcp_keepalive_profile": {"detect_within": 40, "detect": 5}},
        ["tcp_keepalive_profile=", "unknown keys ['detect']", "allowed: time, intvl"],
    ),
    (
        "inline-bad-base",
        {"tcp_keepalive_profile": {"base": "clod"}},
        ["tcp_keepalive_profile=", "unknown profile 'clod'", "known profiles: cloud"],
    ),
    (
        "inline-boolean-value",
        {"tcp_keepalive_profile": {"time": True}},
        ["tcp_keepalive_profile=", "got True (a boolean)", "1..32767"],
    ),
    (
        "inline-infeasible",
        {"tcp_keepalive_profile": {"detect_within": 20}},
        [
            "tcp_keepalive_profile={'detect_within': 20} cannot be met",
            "detect_within (20 s)",
            "short by 11 s",
        ],
    ),
    (
        "named-infeasible",
        {
            "tcp_keepalive_profile": "tight",
            "tcp_keepalive_profiles": {"tight": {"detect_within": 20}},
        },
        ["tcp_keepalive_profile=tight cannot be met", "short by 11 s"],
    ),
    (
        "path-infeasible",
        {
            "tcp_keepalive_profile": {"margin": 100},
            "tcp_keepalive_path": [{"id": "aws_nlb", "idle_timeout": 60}],
        },
        ["cannot be met on tcp_keepalive_path", "60 s (aws_nlb)", "short by"],
    ),
    (
        "explicit-values-fail-path",
        {
            "tcp_keepalive_profile": {"time": 7200, "intvl": 75, "probes": 9},
            "tcp_keepalive_path": ["azure_nat_gateway"],
        },
        ["cannot be met on tcp_keepalive_path", "azure_nat_gateway", "240 s"],
    ),
    # A list or mapping of the wrong type: Ansible's argument spec check names its type.
    (
        "profiles-list",
        {"tcp_keepalive_profiles": ["pg"]},
        ["tcp_keepalive_profiles", "is of type list", "convert to dict"],
    ),
    (
        "profiles-value-range",
        {"tcp_keepalive_profiles": {"pg": {"probes": 200}}},
        ["tcp_keepalive_profiles.pg=", "probes=200 is out of range", "allowed 1..127"],
    ),
    (
        "profiles-not-mapping",
        {"tcp_keepalive_profiles": {"pg": "database"}},
        ["tcp_keepalive_profiles.pg='database'", "must be a mapping"],
    ),
    (
        "profiles-base-loop",
        {
            "tcp_keepalive_profiles": {"a": {"base": "b"}, "b": {"base": "a"}},
            "tcp_keepalive_profile": "a",
        },
        ["tcp_keepalive_profiles.a=", "profile base loop: a -> b -> a"],
    ),
    (
        "path-string",
        {"tcp_keepalive_path": "aws_nlb"},
        ["tcp_keepalive_path='aws_nlb'", "must be a list of middleboxes"],
    ),
    (
        "path-typo",
        {"tcp_keepalive_path": ["aws_nlbb"]},
        [
            "tcp_keepalive_path=['aws_nlbb']",
            "unknown middlebox id 'aws_nlbb'",
            "did you mean: aws_nlb",
        ],
    ),
    (
        "path-override-range",
        {"tcp_keepalive_path": [{"id": "aws_nlb", "idle_timeout": 30}]},
        ["tcp_keepalive_path=", "idle_timeout=30 is out of range: allowed 60..6000 s"],
    ),
    (
        "path-custom-layer",
        {"tcp_keepalive_path": [{"name": "fw", "idle_timeout": 900, "layer": 5}]},
        ["tcp_keepalive_path=", "layer", "5"],
    ),
    (
        "path-item-int",
        {"tcp_keepalive_path": [42]},
        ["tcp_keepalive_path=[42]", "must be a catalog id, {id: ID, idle_timeout: S}"],
    ),
    (
        "mode-typo",
        {"tcp_keepalive_mode": "enforcee"},
        ["tcp_keepalive_mode", "enforcee", "enforce, audit"],
    ),
    (
        "apply-not-bool",
        {"tcp_keepalive_apply_enabled": "maybe"},
        ["tcp_keepalive_apply_enabled", "maybe", "bool"],
    ),
    (
        "persist-not-bool",
        {"tcp_keepalive_persist_enabled": "sometimes"},
        ["tcp_keepalive_persist_enabled", "sometimes", "bool"],
    ),
    (
        "adoption-not-bool",
        {"tcp_keepalive_adoption_enabled": [1]},
        ["tcp_keepalive_adoption_enabled", "is of type list", "convert to bool"],
    ),
    (
        "middlebox-not-bool",
        {"tcp_keepalive_middlebox_enabled": "perhaps"},
        ["tcp_keepalive_middlebox_enabled", "perhaps", "bool"],
    ),
    (
        "file-outside-sysctl-d",
        {"tcp_keepalive_sysctl_file": "/etc/keepalive.conf"},
        [
            "tcp_keepalive_sysctl_file='/etc/keepalive.conf'",
            "outside the sysctl.d directories",
            "allowed: a *.conf file directly inside one of /etc/sysctl.d",
        ],
    ),
    (
        "file-not-conf",
        {"tcp_keepalive_sysctl_file": "/etc/sysctl.d/90-keepalive.txt"},
        ["tcp_keepalive_sysctl_file='/etc/sysctl.d/90-keepalive.txt'", "only *.conf files"],
    ),
    (
        "file-relative",
        {"tcp_keepalive_sysctl_file": "sysctl.d/90-k.conf"},
        ["tcp_keepalive_sysctl_file=", "not a plain absolute path"],
    ),
    (
        "mode-not-octal",
        {"tcp_keepalive_sysctl_file_mode": "rw-r--r--"},
        ["tcp_keepalive_sysctl_file_mode='rw-r--r--'", "allowed: an octal string such as '0644'"],
    ),
    (
        "mode-world-writable",
        {"tcp_keepalive_sysctl_file_mode": "0666"},
        ["tcp_keepalive_sysctl_file_mode='0666'", "no write for group or others"],
    ),
    (
        "on-shadowed-typo",
        {"tcp_keepalive_on_shadowed": "explode"},
        ["tcp_keepalive_on_shadowed", "explode", "fail, warn, ignore"],
    ),
    (
        "fail-on-typo",
        {"tcp_keepalive_fail_on": "sometimes"},
        ["tcp_keepalive_fail_on", "sometimes", "fail, warn, never"],
    ),
    (
        "netns-list",
        {"tcp_keepalive_netns": ["blue"]},
        ["tcp_keepalive_netns", "blue", "a name of 'ip netns list'"],
    ),
    (
        "netns-missing",
        {"tcp_keepalive_netns": "no-such-ns"},
        ["tcp_keepalive_netns", "no-such-ns", "no such network namespace", "ip netns list"],
    ),
    (
        "netns-not-a-namespace",
        {"tcp_keepalive_netns": "/etc/passwd"},
        ["tcp_keepalive_netns", "/etc/passwd", "not a network namespace", "/proc/PID/ns/net"],
    ),
    (
        "require-string",
        {"tcp_keepalive_require": "sshd"},
        ["tcp_keepalive_require='sshd'", "a list of unit or process names"],
    ),
    (
        "require-int-item",
        {"tcp_keepalive_require": [42]},
        ["tcp_keepalive_require[1]=42 (int)", "a unit or process name (shell pattern)"],
    ),
    (
        "require-bogus-state",
        {"tcp_keepalive_require": [{"name": "sshd", "states": ["bogus"]}]},
        ["tcp_keepalive_require[1]=", "states=['bogus']", "one or more of established, listen"],
    ),
    (
        "require-states-int",
        {"tcp_keepalive_require": [{"name": "sshd", "states": 5}]},
        ["tcp_keepalive_require[1]=", "states=5 (int)", "one or more of established, listen"],
    ),
    (
        "require-states-string",
        {"tcp_keepalive_require": [{"name": "sshd", "states": "established"}]},
        ["tcp_keepalive_require[1]=", "states='established' (str)", "a list of one or more"],
    ),
    (
        "require-states-empty",
        {"tcp_keepalive_require": [{"name": "sshd", "states": []}]},
        ["tcp_keepalive_require[1]=", "states=[]", "one or more of established, listen"],
    ),
    (
        "require-no-name",
        {"tcp_keepalive_require": ["sshd", {"states": ["listen"]}]},
        ["tcp_keepalive_require[2]=", "name=None", "a non-empty unit or process name"],
    ),
    (
        "require-empty-name",
        {"tcp_keepalive_require": [{"name": ""}]},
        ["tcp_keepalive_require[1]=", "name=''", "a non-empty unit or process name"],
    ),
    (
        "heartbeats-int-item",
        {"tcp_keepalive_heartbeats": [42]},
        ["tcp_keepalive_heartbeats[1]=42 (int)", "{name: UNIT_OR_COMMAND, heartbeat: SECONDS}"],
    ),
    (
        "heartbeats-milliseconds",
        {"tcp_keepalive_heartbeats": [{"name": "chat-gateway.service", "heartbeat": 30000000}]},
        ["tcp_keepalive_heartbeats[1]=", "heartbeat=30000000 (int)", "an integer 1..86400"],
    ),
    (
        "heartbeats-unknown-key",
        {"tcp_keepalive_heartbeats": [{"name": "redis", "interval": 30}]},
        ["tcp_keepalive_heartbeats[1]=", "unknown keys ['interval']", "allowed keys: name"],
    ),
    (
        "heartbeats-empty-name",
        {"tcp_keepalive_heartbeats": [{"name": "", "heartbeat": 30}]},
        ["tcp_keepalive_heartbeats[1]=", "name='' (str)", "a non-empty unit or process name"],
    ),
    (
        "require-unknown-key",
        {"tcp_keepalive_require": [{"name": "sshd", "state": ["listen"]}]},
        ["tcp_keepalive_require[1]=", "unknown keys ['state']", "allowed keys: name, states"],
    ),
]

# (id, keepalive_sockets_info options, texts the failure must show)
SOCKETS_CASES = [
    ("states-empty", {"states": []}, ["states=[]", "one or more of close, close_wait"]),
    ("states-typo", {"states": ["estab"]}, ["states", "estab", "one or more of"]),
    ("states-int", {"states": 5}, ["states", "5", "one or more of"]),
    (
        "netns-file",
        {"netns": ["/etc/passwd"]},
        ["netns[1]: ", "'/etc/passwd'", "not a network namespace", "/proc/PID/ns/net"],
    ),
    (
        "netns-other-kind",
        {"netns": ["/proc/1/ns/uts"]},
        ["netns[1]: ", "'/proc/1/ns/uts'", "not a network namespace"],
    ),
    (
        "netns-missing",
        {"netns": ["no-such-ns"]},
        ["netns[1]: ", "'no-such-ns'", "no such network namespace"],
    ),
    ("netns-empty-name", {"netns": [""]}, ["netns[1]=''", "ip netns list"]),
    (
        "require-states-int",
        {"require": [{"name": "sshd", "states": 5}]},
        ["require[1]=", "states=5 (int)", "one or more of established, listen"],
    ),
    (
        "require-states-string",
        {"require": [{"name": "sshd", "states": "established"}]},
        ["require[1]=", "states='established' (str)", "a list of one or more"],
    ),
    (
        "require-states-empty",
        {"require": [{"name": "sshd", "states": []}]},
        ["require[1]=", "states=[]", "one or more of established, listen"],
    ),
    (
        "require-bogus-state",
        {"require": [{"name": "sshd", "states": ["time_wait"]}]},
        ["require[1]=", "states=['time_wait']", "established, listen"],
    ),
    ("require-int-item", {"require": [42]}, ["require[1]=42 (int)", "unit or process name"]),
    (
        "heartbeats-not-a-list-item",
        {"heartbeats": ["redis"]},
        ["heartbeats[1]='redis' (str)", "{name: UNIT_OR_COMMAND, heartbeat: SECONDS}"],
    ),
    (
        "heartbeats-zero",
        {"heartbeats": [{"name": "redis", "heartbeat": 0}]},
        ["heartbeats[1]=", "heartbeat=0 (int)", "an integer 1..86400"],
    ),
    (
        "require-name-int",
        {"require": [{"name": 7}]},
        ["require[1]=", "name=7 (int)", "non-empty unit or process name"],
    ),
    (
        "require-unknown-key",
        {"require": [{"name": "sshd", "ports": [22]}]},
        ["require[1]=", "unknown keys ['ports']", "allowed keys: name, states"],
    ),
    ("path-typo", {"path": ["aws_nlbb"]}, ["path=['aws_nlbb']", "did you mean: aws_nlb"]),
    (
        "path-override-range",
        {"path": [{"id": "aws_nlb", "idle_timeout": 5}]},
        ["path=", "idle_timeout=5 is out of range: allowed 60..6000 s"],
    ),
    ("profile-unknown", {"profile": "nope"}, ["profile='nope'", "known profiles: cloud"]),
    (
        "profile-field",
        {"profile": {"margin": "x"}},
        ["profile=", "margin must be an integer", "'x'"],
    ),
    (
        "profiles-range",
        {"profiles": {"a": {"time": 0}}, "profile": "a"},
        ["profiles.a.time=0 is out of range", "allowed 1..32767"],
    ),
    # AnsibleModule's own type check names the option, the type given and the type wanted.
    ("profiles-not-dict", {"profiles": "cloud"}, ["profiles", "is of type str", "convert to dict"]),
    ("units-empty", {"units": [""]}, ["units[1]=''", "non-empty unit or command name"]),
    ("ports-range", {"ports": [70000]}, ["ports: 70000 is not a TCP port", "0..65535"]),
    ("ports-not-int", {"ports": ["http"]}, ["ports", "http", "int"]),
    ("limit-negative", {"limit": -1}, ["limit=-1", "must be 0 or more"]),
    ("keepalive-typo", {"keepalive": "on"}, ["keepalive", "on", "enabled, disabled"]),
    ("details-not-bool", {"details": "sometimes"}, ["details", "sometimes", "bool"]),
    ("exact-not-bool", {"exact": "sometimes"}, ["exact", "sometimes", "bool"]),
]
# The rollout sets tcp_keepalive_mode=enforce itself: a host's own mode never reaches it.
ROLLOUT_CASES = [case for case in ROLE_CASES if "tcp_keepalive_mode" not in case[1]]
# Every option keepalive_sockets_info has, from its own argument spec.
SOCKETS_OPTIONS = tuple(ARGUMENT_SPEC)


def sockets_play():
    """keepalive_sockets_info with each host's own options (``ka_args``), every one optional."""
    args = {name: "{{ ka_args.%s | default(omit) }}" % name for name in SOCKETS_OPTIONS}
    return [
        {
            "name": "keepalive_sockets_info with bad options",
            "hosts": "lab",
            "gather_facts": False,
            "tasks": [
                {"name": "Audit the sockets", "netstack.keepalive.keepalive_sockets_info": args}
            ],
        }
    ]


def role_play(hosts):
    return [
        {
            "name": "tcp_keepalive role with bad inputs",
            "hosts": hosts,
            "gather_facts": False,
            "roles": [{"role": "netstack.keepalive.tcp_keepalive"}],
        }
    ]


def batches(cases, size):
    return [cases[start : start + size] for start in range(0, len(cases), size)]


def run_batches(lab, cases, run):
    """Run ``cases`` LAB_HOSTS at a time; ``{case id: (host, run, before, after, states)}``.

    ``states`` holds the state of every lab host before and after that run.
    """
    names = [host.name for host in lab.hosts]
    outcomes = {}
    for batch in batches(cases, len(names)):
        assigned = dict(zip(names, batch))  # noqa: B905 - a batch is never longer
        lab.write_inventory({host: case[1] for host, case in assigned.items()})
        before = {host: host_state(lab, host) for host in names}
        done = run(sorted(assigned))
        after = {host: host_state(lab, host) for host in names}
        for host, case in assigned.items():
            outcomes[case[0]] = (host, done, before, after)
    lab.write_inventory()
    return outcomes


def failure_text(run, host):
    """The messages of the host's failed tasks (what the user reads)."""
    failed = [r for r in run.host(host) if r.failed]
    assert failed, "%s did not fail\n%s" % (host, run)
    return "\n".join(str(r.msg) for r in failed), failed


@pytest.fixture(scope="module")
def hosts_with_a_shadow(lab):
    """Every host has a later file setting one of our keys: the preflight must not judge it
    (only a real apply does), and nothing of the host may change."""
    for host in lab.hosts:
        lab.run(
            host.name, "printf 'net.ipv4.tcp_keepalive_time = 7200\\n' > %s" % SHADOW, check=True
        )
    yield lab
    for host in lab.hosts:
        lab.run(host.name, ["rm", "-f", SHADOW], check=True)


@pytest.fixture(scope="module")
def role_outcomes(hosts_with_a_shadow, ansible_playbook):
    lab = hosts_with_a_shadow
    return run_batches(lab, ROLE_CASES, lambda hosts: ansible_playbook(role_play(hosts)))


@pytest.fixture(scope="module")
def rollout_outcomes(hosts_with_a_shadow, ansible_playbook):
    lab = hosts_with_a_shadow
    return run_batches(lab, ROLLOUT_CASES, lambda hosts: ansible_playbook("playbooks/rollout.yml"))


@pytest.fixture(scope="module")
def sockets_outcomes(lab, ansible_playbook):
    # The bad options travel as host variables, so each host gets its own.
    cases = [(case_id, {"ka_args": args}, texts) for case_id, args, texts in SOCKETS_CASES]
    return run_batches(lab, cases, lambda hosts: ansible_playbook(sockets_play(), limit=hosts))


def ids(cases):
    return [case[0] for case in cases]


@pytest.mark.parametrize("case_id, variables, texts", ROLE_CASES, ids=ids(ROLE_CASES))
def test_role_refuses_bad_input_before_any_change(role_outcomes, case_id, variables, texts):
    host, run, before, after = role_outcomes[case_id]
    message, failed = failure_text(run, host)
    for text in texts:
        assert text in message, "%s: %r not in the failure:\n%s" % (case_id, text, message)
    assert after[host] == before[host], "%s changed %s" % (case_id, host)
    assert SET_TASK not in {r.task for r in run.host(host)}, "%s reached the apply" % case_id
    assert failed[-1].task.startswith(("Validating arguments", "Stop")), failed[-1].task


@pytest.mark.parametrize("case_id, variables, texts", ROLLOUT_CASES, ids=ids(ROLLOUT_CASES))
def test_rollout_stops_in_the_preflight_with_no_host_changed(
    rollout_outcomes, case_id, variables, texts
):
    host, run, before, after = rollout_outcomes[case_id]
    assert run.rc != 0, str(run)
    message, _failed = failure_text(run, host)
    for text in texts:
        assert text in message, "%s: %r not in the failure:\n%s" % (case_id, text, message)
    assert after == before, "%s: the rollout changed a host" % case_id
    assert not [r for r in run.results if r.task in (ROLLOUT_APPLY, SET_TASK)], str(run)


@pytest.mark.parametrize("case_id, args, texts", SOCKETS_CASES, ids=ids(SOCKETS_CASES))
def test_sockets_info_refuses_bad_options(sockets_outcomes, case_id, args, texts):
    host, run, before, after = sockets_outcomes[case_id]
    message, _failed = failure_text(run, host)
    for text in texts:
        assert text in message, "%s: %r not in the failure:\n%s" % (case_id, text, message)
    assert after[host] == before[host]


def test_the_tables_cover_every_role_variable_and_module_option():
    root = Path(__file__).resolve().parents[2]
    specs = yaml.safe_load((root / "roles/tcp_keepalive/meta/argument_specs.yml").read_text())
    variables = set(specs["argument_specs"]["main"]["options"])
    tried = {name for _id, case, _texts in ROLE_CASES for name in case}
    assert variables == tried
    assert set(SOCKETS_OPTIONS) == {name for _id, args, _texts in SOCKETS_CASES for name in args}

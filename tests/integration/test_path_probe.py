"""keepalive_path_probe and the playbook netstack.keepalive.probe_path against REAL NATs.

Three routers (tests/lab/router.py) stand between inside hosts and one peer, h2:

- r1: conntrack forgets an idle flow after 8 s and drops its next segments (h1 -> h2);
- r2: the same after 14 s, masquerading (h3 -> h2; h2 has no route back to h3's segment, so
  only the NAT's rewrite carries the replies); the probe also verifies keepalive 5/1/3 past it;
- r3: forgets after 5 s and answers a forgotten flow's segment with a TCP RST, as Azure
  Firewall does (h4 -> h2).

The three playbook runs go at once (each with its own listener port on h2), so the module
costs about the slowest probe. Each must bracket its router's timeout within the requested
resolution and tell a silent drop from a reset. Then the errors, none of which measures:
check mode sends nothing, a port held by another service (h2's sshd), an unreachable peer,
a resolution above max_duration, a listener asked for a port in use.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from router import Router

LAB_HOSTS = 4
pytestmark = pytest.mark.lab

PLAYBOOK = "playbooks/probe_path.yml"
MODULE = "netstack.keepalive.keepalive_path_probe"
RESOLUTION = 2
SETTINGS = {
    "probe_resolution": RESOLUTION,
    "probe_min_idle": 2,
    "probe_max_idle": 30,
    "probe_max_duration": 150,
    "probe_parallel": 6,
    "probe_answer_within": 3,
}
VERIFY = {"time": 5, "intvl": 1, "probes": 3}
# router index -> (inside host index, timeout, reset, listener port); r2 masquerades
ROUTERS = {1: (1, 8, False, 47001), 2: (3, 14, False, 47002), 3: (4, 5, True, 47003)}
MASQUERADE = {2}


def probe_vars(lab, router, host, port, **extra):
    return dict(
        SETTINGS,
        probe_host=host,
        probe_peer=lab.hosts[1].name,
        probe_peer_address=router.peer_address,
        probe_port=port,
        probe_name="lab-nat-r%d" % router.index,
        **extra,
    )


def measured_result(run, host):
    assert run.rc == 0, str(run)
    return run.task("Probe the path", host).result


@pytest.fixture(scope="module")
def routers(lab):
    peer = lab.hosts[1].name
    made = {}
    try:
        for index, (inside, timeout, reset, _port) in ROUTERS.items():
            made[index] = Router(
                lab,
                inside=[lab.hosts[inside - 1].name],
                outside=peer,
                established_timeout=timeout,
                index=index,
                reset=reset,
                masquerade=index in MASQUERADE,
            )
        yield made
    finally:
        for router in made.values():
            router.close()


@pytest.fixture(scope="module")
def probes(lab, routers, ansible_playbook):
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(ROUTERS)) as pool:
        futures = {}
        for index, (inside, _timeout, _reset, port) in ROUTERS.items():
            host = lab.hosts[inside - 1].name
            extra = {"probe_verify_keepalive": VERIFY} if index == 2 else {}
            variables = probe_vars(lab, routers[index], host, port, **extra)
            futures[index] = (host, pool.submit(ansible_playbook, PLAYBOOK, extra_vars=variables))
        results = {
            index: measured_result(future.result(), host)
            for index, (host, future) in futures.items()
        }
    wall = time.monotonic() - started
    print("\nprobe runs together in %.1f s" % wall)
    for index, result in results.items():
        print(
            "r%d timeout %2d s: bracket %s, %s, %d connections, %.1f s, verify %s"
            % (
                index,
                ROUTERS[index][1],
                result["idle_timeout"],
                result["ends_flows_by"],
                result["connections"],
                result["duration"],
                result.get("verify"),
            )
        )
    return results


@pytest.mark.parametrize("index", [1, 2, 3], ids=["8s-drop", "14s-drop", "5s-reset"])
def test_the_probe_brackets_the_nat_timeout_within_the_resolution(probes, index):
    result = probes[index]
    timeout = ROUTERS[index][1]
    low, high = result["idle_timeout"]["low"], result["idle_timeout"]["high"]
    assert result["stopped_by"] == "resolution", result
    assert high - low <= RESOLUTION, result
    # conntrack forgets a flow idle for the timeout; half a second covers the start of a
    # connection's idle against the last packet the router saw
    assert low <= timeout + 0.5 and high >= timeout - 0.5, result
    override = result["path_override"]
    assert override["idle_timeout"] == int(low) and override["layer"] == 4, override
    assert override["name"] == "lab-nat-r%d" % index


def test_the_probe_tells_a_silent_drop_from_a_reset(probes, routers):
    assert probes[1]["ends_flows_by"] == "silent_drop"
    assert probes[2]["ends_flows_by"] == "silent_drop"
    assert probes[3]["ends_flows_by"] == "reset"
    assert routers[3].counters()["invalid_reset"] > 0
    assert routers[1].counters()["invalid_reset"] == 0


def test_verify_keepalive_proves_the_values_keep_the_flow(probes):
    verify = probes[2]["verify"]
    assert verify["kept"] is True and verify["outcome"] == "alive", verify
    assert verify["idle"] > probes[2]["idle_timeout"]["high"], verify


def test_check_mode_plans_and_sends_nothing(lab, routers, ansible_playbook):
    router = routers[1]
    before = router.counters()["forwarded_new"]
    host = lab.hosts[0].name
    run = ansible_playbook(PLAYBOOK, extra_vars=probe_vars(lab, router, host, 47010), check=True)
    assert run.rc == 0, str(run)
    plan = run.task("Check the options and print the plan (sends nothing)", host)["plan"]
    assert plan["rounds"] and plan["worst_case_seconds"] <= SETTINGS["probe_max_duration"]
    assert router.counters()["forwarded_new"] == before
    ran = {r.task for r in run.results if r.status != "skipped"}
    assert "Start the listener on the peer for a bounded time" not in ran


def module_args(router, **args):
    return dict(
        {
            "peer": router.peer_address,
            "port": 47020,
            "token": "t0ken",
            "max_duration": 60,
            "max_idle": 30,
        },  # fmt: skip
        **args,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # h2's sshd holds port 22 on its lab address: its banner is not the listener's answer
        ({"peer": "h2-lab-address", "port": 22}, "port=22: answered 'SSH-2.0"),
        ({"peer": "198.18.16.99", "connect_timeout": 2}, "unreachable"),
        ({"resolution": 90}, "resolution=90: must not exceed max_duration=60"),
        ({"max_idle": 60}, "max_idle=60: one round to it takes up to"),
        ({"parallel": 0}, "parallel=0: give an integer from 1 to 32"),
        ({"port": 47021}, "connection refused: the listener is not running"),
    ],
    ids=["port-in-use", "unreachable", "resolution", "max-idle", "parallel", "no-listener"],
)
def test_bad_input_fails_before_any_measured_connection(
    lab, routers, ansible_module, args, message
):
    router = routers[1]
    if args.get("peer") == "h2-lab-address":
        args = dict(args, peer=lab.hosts[1].address)
    before = router.counters()["forwarded_new"]
    run = ansible_module(MODULE, module_args(router, **args), pattern=lab.hosts[0].name)
    result = run.by_host[lab.hosts[0].name]
    assert result.failed and message in result.msg, result.result
    # at most the one connect() that asks the peer who listens (its SYN and, towards an
    # address nobody answers, one retransmission in the 2 s); no measured connection
    assert router.counters()["forwarded_new"] - before <= 2


def test_a_listener_refuses_a_port_in_use(lab, ansible_module):
    peer = lab.hosts[1].name
    run = ansible_module(
        MODULE, {"role": "listen", "port": 22, "token": "listener-token"}, pattern=peer
    )
    result = run.by_host[peer]
    assert result.failed and "port=22: already in use on this host" in result.msg, result.result

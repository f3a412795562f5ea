"""The verdicts against a REAL stateful NAT and a REAL layer-7 proxy between lab hosts.

Hosts h1, h2, h3 sit inside a router namespace (tests/lab/router.py: conntrack,
``nf_conntrack_tcp_timeout_established`` 15 s, ``nf_conntrack_tcp_loose=0``,
``ct state invalid drop``), h4 outside runs an echo server. The role gets the path
``[{name: lab-nat, idle_timeout: 15, layer: 4}]``:

- h1, values derived by the role (enforce): an idle connection with SO_KEEPALIVE survives
  3 x 15 s and then carries data both ways; the audit says ``pass``;
- h2, kernel defaults (7200 s): the same connection dies: its segment after the idle is
  dropped as INVALID and the sender times out (TCP_USER_TIMEOUT 3 s on the test socket keeps
  that wait short); the audit fails the host and the socket group;
- h3, derived values, but the application sets its own TCP_KEEPIDLE 7200: the host passes,
  its socket group fails, and the connection dies as predicted;
- h5, inside too: a real HAProxy (TCP mode, ``timeout client/server`` 6 s) in the router's
  namespace, between h5 and h4, closes a connection with keepalive every second, as the
  ``application_heartbeat`` verdict says; an application heartbeat at the verdict's interval
  keeps one open for 3 x 6 s.

The audits run while the connections idle (they see the sockets); all idle waits overlap, so
the module takes about one 45 s idle plus three role runs. Needs root, nftables, haproxy.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _middlebox import PEER_PORT, PROXY_PORT, Processes, haproxy
from router import Router

LAB_HOSTS = 5
pytestmark = pytest.mark.lab

NAT_TIMEOUT = 15
IDLE = 3 * NAT_TIMEOUT
PROXY_IDLE = 6
USER_TIMEOUT = 3  # s: bounds how long a sender retransmits into a box that forgot its flow
PROFILE = {"margin": 3, "detect_within": 20, "tolerate_outage": 3}
NAT_PATH = [{"name": "lab-nat", "idle_timeout": NAT_TIMEOUT, "layer": 4}]
PROXY_PATH = [{"name": "lab-proxy", "idle_timeout": PROXY_IDLE, "layer": 7}]
KEYS = ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes")


def role_report_play(hosts, **role_vars):
    role = dict(
        {"role": "netstack.keepalive.tcp_keepalive", "tcp_keepalive_profile": PROFILE},
        **role_vars,
    )
    return [
        {
            "name": "tcp_keepalive role",
            "hosts": hosts,
            "gather_facts": False,
            "roles": [role],
            "tasks": [{"ansible.builtin.debug": {"var": "tcp_keepalive_report"}}],
        }
    ]


def reports(run, hosts):
    assert run.rc == 0, str(run)
    return {h: run.task("ansible.builtin.debug", h)["tcp_keepalive_report"] for h in hosts}


def runtime(lab, host):
    done = lab.run(host, "cd /proc/sys/net/ipv4 && cat %s" % " ".join(KEYS), check=True)
    return tuple(int(v) for v in done.stdout.split())


@pytest.fixture(scope="module")
def scene(lab, ansible_playbook, tmp_path_factory):
    if shutil.which("nft") is None or shutil.which("haproxy") is None:
        pytest.fail("nft or haproxy missing: run the project set-up (scripts/setup.sh)")
    h1, h2, h3, h4, h5 = (h.name for h in lab.hosts)
    started = time.monotonic()
    procs = Processes(lab)
    with Router(lab, inside=[h1, h2, h3, h5], outside=h4, established_timeout=NAT_TIMEOUT) as nat:
        try:
            procs.peer_server(h4)
            workdir = tmp_path_factory.mktemp("haproxy")
            haproxy(nat, workdir, nat.gateway(h5), nat.peer_address, PROXY_IDLE)
            with ThreadPoolExecutor(max_workers=2) as pool:
                enforced = pool.submit(
                    ansible_playbook,
                    role_report_play("%s:%s" % (h1, h3), tcp_keepalive_path=NAT_PATH),
                )
                proxy = pool.submit(
                    ansible_playbook,
                    role_report_play(h5, tcp_keepalive_path=PROXY_PATH, tcp_keepalive_mode="audit"),
                )
                enforced = reports(enforced.result(), [h1, h3])
                proxy = reports(proxy.result(), [h5])[h5]
            (beat_verdict,) = [
                v for v in proxy["verdicts"] if v["check"] == "application_heartbeat"
            ]
            nat_peer = {"peer": nat.peer_address, "port": PEER_PORT, "idle": IDLE}
            via_proxy = {"peer": nat.gateway(h5), "port": PROXY_PORT, "idle": 3 * PROXY_IDLE}
            clients = {
                "derived": procs.idle_client(
                    h1, keepalive=[0, 0, 0], user_timeout=USER_TIMEOUT, **nat_peer
                ),
                "defaults": procs.idle_client(
                    h2, keepalive=[0, 0, 0], user_timeout=USER_TIMEOUT, **nat_peer
                ),
                "app_keepidle": procs.idle_client(
                    h3, keepalive=[7200, 0, 0], user_timeout=USER_TIMEOUT, **nat_peer
                ),
                "proxy_keepalive": procs.idle_client(h5, keepalive=[1, 1, 3], **via_proxy),
                "proxy_heartbeat": procs.idle_client(
                    h5, heartbeat=beat_verdict["limit"], **via_proxy
                ),
            }
            flows_while_idle = nat.flows()
            audit = reports(
                ansible_playbook(
                    role_report_play(
                        "%s:%s:%s" % (h1, h2, h3),
                        tcp_keepalive_path=NAT_PATH,
                        tcp_keepalive_mode="audit",
                    )
                ),
                [h1, h2, h3],
            )
            outcomes = {name: client.result() for name, client in clients.items()}
            counters = nat.counters()
        finally:
            procs.close()
    scene = {
        "hosts": (h1, h2, h3, h4, h5),
        "enforced": enforced,
        "proxy": proxy,
        "beat_verdict": beat_verdict,
        "audit": audit,
        "outcomes": outcomes,
        "counters": counters,
        "flows_while_idle": flows_while_idle,
        "runtime": {h: runtime(lab, h) for h in (h1, h2, h3)},
        "clients": {name: c.local_port for name, c in clients.items()},
    }
    print("\nmiddlebox scene in %.1f s: %s" % (time.monotonic() - started, outcomes))
    return scene


def host_verdict(report):
    (verdict,) = [
        v
        for v in report["verdicts"]
        if v["check"] == "middlebox_idle" and v["subject"] == "lab-nat"
    ]
    return verdict["status"]


def socket_verdicts(report):
    """The socket_idle verdicts of the test clients' group (comm python3)."""
    found = [
        v for v in report["verdicts"] if v["check"] == "socket_idle" and " python3 " in v["subject"]
    ]
    assert found, [v for v in report["verdicts"] if v["check"] == "socket_idle"]
    return found


def test_derived_values_keep_an_idle_connection_through_the_nat(scene):
    h1 = scene["hosts"][0]
    assert scene["runtime"][h1] == (12, 1, 3)  # 15 s box - 3 s margin
    assert host_verdict(scene["enforced"][h1]) == "pass"
    assert host_verdict(scene["audit"][h1]) == "pass"
    assert {v["status"] for v in socket_verdicts(scene["audit"][h1])} == {"pass"}
    outcome = scene["outcomes"]["derived"]
    assert outcome["outcome"] == "alive", outcome
    assert outcome["elapsed"] >= IDLE


def test_kernel_defaults_die_in_the_nat_and_the_audit_fails(scene):
    h2 = scene["hosts"][1]
    assert scene["runtime"][h2] == (7200, 75, 9)
    report = scene["audit"][h2]
    assert host_verdict(report) == "fail"
    assert report["status"] == "fail"
    verdicts = socket_verdicts(report)
    assert {v["status"] for v in verdicts} == {"fail"}, verdicts
    # the limit: the first probe must leave the margin before the box forgets the flow
    assert verdicts[0]["value"] == 7200
    assert verdicts[0]["limit"] == NAT_TIMEOUT - PROFILE["margin"]
    outcome = scene["outcomes"]["defaults"]
    assert outcome["outcome"] == "timed_out", outcome
    # the NAT dropped the forgotten flow's segments (the sender's retransmissions)
    assert scene["counters"]["invalid_dropped"] > 0, scene["counters"]


def test_an_application_keepidle_fails_the_socket_check_and_dies(scene):
    h3 = scene["hosts"][2]
    assert scene["runtime"][h3] == (12, 1, 3)
    report = scene["audit"][h3]
    assert host_verdict(report) == "pass"
    verdicts = socket_verdicts(report)
    assert {v["status"] for v in verdicts} == {"fail"}, verdicts
    assert verdicts[0]["value"] == 7200
    outcome = scene["outcomes"]["app_keepidle"]
    assert outcome["outcome"] == "timed_out", outcome


def test_the_nat_remembered_every_flow_while_it_was_busy(scene):
    """Right after the first line, conntrack holds the three flows to the peer."""
    ports = {str(scene["clients"][name]) for name in ("derived", "defaults", "app_keepidle")}
    remembered = {sport for _src, sport, _dst, dport in scene["flows_while_idle"]}
    assert ports <= remembered, scene["flows_while_idle"]


def test_a_proxy_closes_despite_keepalive_and_a_heartbeat_keeps_it(scene):
    verdict = scene["beat_verdict"]
    assert verdict["status"] == "warn" and verdict["subject"] == "lab-proxy"
    assert verdict["limit"] == PROXY_IDLE // 3
    closed = scene["outcomes"]["proxy_keepalive"]
    assert closed["outcome"] == "fin" and closed["during_idle"], closed
    assert PROXY_IDLE - 0.5 <= closed["elapsed"] <= PROXY_IDLE + 3, closed
    kept = scene["outcomes"]["proxy_heartbeat"]
    assert kept["outcome"] == "alive", kept
    assert kept["beats"] >= 3 * PROXY_IDLE // verdict["limit"] - 1, kept

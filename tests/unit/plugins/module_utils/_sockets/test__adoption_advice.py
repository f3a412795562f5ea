"""Advice on failing socket groups, heartbeat-aware path and require checks, and the
heartbeats keepalive_sockets_info gathers (sshd's reader replaced here by a stand-in that
returns what ``sshd -T`` prints; the real reader runs in
tests/integration/test_remediation_services.py)."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _observe,
    _sockets_info,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    normalize_require,
    path_verdicts,
    require_verdicts,
    required_heartbeats,
)

AZURE = ["azure_lb_standard"]
SSHD_60 = {
    "service": "sshd",
    "name": "sshd",
    "interval": 60,
    "count_max": 3,
    "tcp_keepalive": False,
    "source": "sshd -T",
    "label": "sshd's ClientAlive heartbeat",
}


def group(unit, comm, keepalive=True, idle=300, intvl=100, cnt=3, netns="net:[1]"):
    return {
        "netns": netns,
        "unit": unit,
        "comm": comm,
        "state": "established",
        "keepalive": keepalive,
        "idle": idle if keepalive else None,
        "intvl": intvl if keepalive else None,
        "cnt": cnt if keepalive else None,
        "user_timeout": None,
        "source": "getsockopt",
        "count": 2,
    }


def idle_only(verdicts):
    return [v for v in verdicts if v["check"] == "socket_idle"]


def test_a_failing_redis_group_says_which_line_of_redis_conf_fixes_it():
    (failing,) = idle_only(path_verdicts([group("redis-server.service", "redis-server")], AZURE))
    assert failing["status"] == "fail"
    assert failing["advice"]["set"] == "tcp-keepalive 210"
    (passing,) = idle_only(
        path_verdicts([group("redis-server.service", "redis-server", idle=60, intvl=20)], AZURE)
    )
    assert passing["status"] == "pass" and "advice" not in passing


def test_keepalive_off_and_within_the_margin_carry_advice():
    (off,) = idle_only(path_verdicts([group("nginx.service", "nginx", keepalive=False)], AZURE))
    assert off["status"] == "fail"
    assert off["advice"]["set"] == "listen ... so_keepalive=210:10:3"
    (close,) = idle_only(path_verdicts([group("app.service", "java", idle=220)], AZURE))
    assert close["status"] == "warn" and close["advice"]["service"] == "Java"


def test_the_namespace_sysctl_is_the_fix_for_a_group_that_follows_it():
    namespaces = {
        "net:[1]": {
            "tcp_keepalive_time": 7200,
            "tcp_keepalive_intvl": 75,
            "tcp_keepalive_probes": 9,
            "tcp_retries2": 15,
        }
    }
    rows = [group("app.service", "myserver", idle=7200, intvl=75, cnt=9)]
    (verdict,) = idle_only(path_verdicts(rows, AZURE, namespaces=namespaces))
    assert verdict["advice"]["service"] == "host sysctl"


def test_sshd_kept_open_by_its_heartbeat_is_judged_by_it():
    rows = [group("ssh.service", "sshd", keepalive=False)]
    assert idle_only(path_verdicts(rows, AZURE))[0]["status"] == "fail"
    (verdict,) = idle_only(path_verdicts(rows, AZURE, heartbeats=[SSHD_60]))
    assert verdict["status"] == "pass"
    assert "kept open by sshd's ClientAlive heartbeat every 60 s (sshd -T)" in verdict["message"]
    slow = dict(SSHD_60, interval=300)
    (verdict,) = idle_only(path_verdicts(rows, AZURE, heartbeats=[slow]))
    assert verdict["status"] == "fail"
    assert verdict["subject"].endswith("via azure_lb_standard")
    assert "set ClientAliveInterval 80 in sshd_config" in verdict["message"]
    # The busy verdict is still the group's own.
    assert [v["check"] for v in path_verdicts(rows, AZURE, heartbeats=[slow])] == [
        "socket_idle",
        "busy_detection",
    ]


def test_keepalive_still_keeps_a_layer4_box_open_where_the_heartbeat_is_too_slow():
    """sshd with TCPKeepAlive yes on 180 s sysctls and ClientAliveInterval 300: the probes
    keep the load balancer open, only the proxy (which probes do not reach) fails on the
    heartbeat."""
    rows = [group("ssh.service", "sshd", idle=180, intvl=20, cnt=3)]
    slow = dict(SSHD_60, interval=300, tcp_keepalive=True)
    verdicts = idle_only(path_verdicts(rows, ["azure_lb_standard", "aws_alb"], heartbeats=[slow]))
    assert [(v["subject"].split(" via ")[1], v["status"]) for v in verdicts] == [
        ("azure_lb_standard", "pass"),
        ("aws_alb", "fail"),
    ]
    assert "the first probe at 180 s" in verdicts[0]["message"]
    assert "set ClientAliveInterval 20 in sshd_config" in verdicts[1]["message"]


def test_require_with_a_heartbeat_passes_without_so_keepalive():
    rows = [group("ssh.service", "sshd", keepalive=False)]
    sshd = [{"name": "sshd", "states": ["established"]}]
    (bare,) = require_verdicts(rows, sshd, ["established"])
    assert bare["status"] == "fail"
    (kept,) = require_verdicts(rows, sshd, ["established"], [SSHD_60])
    assert kept["status"] == "pass"
    assert kept["message"] == (
        "2 of 2 established sockets of sshd have SO_KEEPALIVE off, but they are kept open by "
        "sshd's ClientAlive heartbeat every 60 s (sshd -T)"
    )
    declared = required_heartbeats([{"name": "sshd", "states": ["established"], "heartbeat": 45}])
    (kept,) = require_verdicts(rows, sshd, ["established"], declared)
    assert kept["status"] == "pass" and "sshd's heartbeat every 45 s (declared)" in kept["message"]
    # A listener is not kept open by a heartbeat: that requirement is still SO_KEEPALIVE's.
    listen = dict(rows[0], state="listen")
    (verdict,) = require_verdicts(
        [listen], [{"name": "sshd", "states": ["listen"]}], ["listen"], [SSHD_60]
    )
    assert verdict["status"] == "fail"


def test_require_items_take_a_heartbeat():
    assert normalize_require([{"name": "app", "heartbeat": 30}]) == [
        {"name": "app", "states": ["established", "listen"], "heartbeat": 30}
    ]
    with pytest.raises(KeepaliveError) as caught:
        normalize_require([{"name": "app", "heartbeat": "30s"}])
    assert "require[1]={'name': 'app', 'heartbeat': '30s'}: heartbeat='30s' (str): allowed" in str(
        caught.value
    )


def test_the_host_reads_sshd_only_when_sshd_may_hold_sockets():
    calls = []

    def read_sshd():
        calls.append(1)
        return {"clientaliveinterval": 60, "clientalivecountmax": 3, "tcpkeepalive": False}, None

    assert _observe.read_sshd_settings([group("app.service", "app")], read_sshd) is None
    assert calls == []
    for unit, comm in (("ssh.service", "x"), (None, "sshd-session"), ("sshd@3.service", None)):
        found = _observe.read_sshd_settings([group(unit, comm)], read_sshd)
        assert found == {"settings": read_sshd()[0], "reason": None}, (unit, comm)


def test_sshd_heartbeat_joins_the_declared_ones_when_sshd_holds_sockets():
    settings = {"clientaliveinterval": 60, "clientalivecountmax": 3, "tcpkeepalive": False}
    read = {"settings": settings, "reason": None}
    params = {"heartbeats": [{"name": "chat", "heartbeat": 20}], "require": []}
    degraded = []
    found = _sockets_info.heartbeats(params, [group("app.service", "app")], read, degraded)
    assert [b["name"] for b in found] == ["chat"] and degraded == []
    found = _sockets_info.heartbeats(params, [group("ssh.service", "sshd")], read, degraded)
    assert [(b["name"], b["interval"]) for b in found] == [("chat", 20), ("sshd", 60)]
    # A group another service claims first is not sshd's, whatever the host read.
    found = _sockets_info.heartbeats(params, [group("redis.service", "sshd")], read, degraded)
    assert [b["name"] for b in found] == ["chat"]
    refused = _sockets_info.heartbeats(
        params,
        [group("ssh.service", "sshd")],
        {"settings": None, "reason": "sshd not found"},
        degraded,
    )
    assert [b["name"] for b in refused] == ["chat"]
    assert degraded == [
        "sshd's ClientAlive heartbeat not read (sshd not found): its sockets are judged by "
        "SO_KEEPALIVE; declare it in heartbeats to judge the heartbeat"
    ]


def test_sshd_sockets_without_an_sshd_reading_are_judged_by_keepalive_and_said_so():
    """An observation made without ``sshd`` (observation_wanted always asks when anything is
    checked): the judge does not invent a heartbeat, it says why there is none."""
    degraded = []
    found = _sockets_info.heartbeats({}, [group("ssh.service", "sshd")], None, degraded)
    assert found == []
    assert degraded == [
        "sshd's ClientAlive heartbeat not read (sshd was not asked): its sockets are judged "
        "by SO_KEEPALIVE; declare it in heartbeats to judge the heartbeat"
    ]


def test_a_container_namespace_gets_the_runtime_setting():
    namespaces = {
        "net:[7]": {
            "tcp_keepalive_time": 7200,
            "tcp_keepalive_intvl": 75,
            "tcp_keepalive_probes": 9,
            "owner": {
                "runtime": "docker",
                "id": "0123456789ab" * 5 + "cdef",
                "short_id": "0123456789ab",
            },
        }
    }
    rows = [group(None, "myserver", idle=7200, intvl=75, cnt=9, netns="net:[7]")]
    (verdict,) = idle_only(path_verdicts(rows, AZURE, namespaces=namespaces))
    assert verdict["status"] == "fail"
    assert verdict["advice"]["service"] == "Docker container 0123456789ab"
    assert "210" in verdict["advice"]["set"]

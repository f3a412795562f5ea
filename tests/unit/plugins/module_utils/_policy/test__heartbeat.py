"""Heartbeats against a path: declared ones checked, sshd's judged per box, messages pinned."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _heartbeat as heartbeat,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import (
    resolve_path,
)

SSHD = {
    "service": "sshd",
    "name": "sshd",
    "interval": 60,
    "count_max": 3,
    "tcp_keepalive": False,
    "source": "sshd -T",
    "label": "sshd's ClientAlive heartbeat",
}
AZURE = resolve_path(["azure_lb_standard"])


@pytest.mark.parametrize(
    "items, message",
    [
        (
            "x",
            "heartbeats='x' (str): allowed: a list of {name: UNIT_OR_COMMAND, heartbeat: SECONDS}",
        ),
        (["x"], "heartbeats[1]='x' (str): allowed: {name: UNIT_OR_COMMAND, heartbeat: SECONDS}"),
        (
            [{"name": "a", "heartbeat": 30, "every": 1}],
            "unknown keys ['every']; allowed keys: name, heartbeat",
        ),
        (
            [{"name": "", "heartbeat": 30}],
            "name='' (str): allowed: a non-empty unit or process name",
        ),
        (
            [{"name": "a"}],
            "heartbeat=None (NoneType): allowed: the seconds between the service's "
            "heartbeats, an integer 1..86400",
        ),
        (
            [{"name": "a", "heartbeat": 0}],
            "heartbeats[1]={'name': 'a', 'heartbeat': 0}: heartbeat=0 (int)",
        ),
        ([{"name": "a", "heartbeat": True}], "heartbeat=True (a boolean)"),
        ([{"name": "a", "heartbeat": "30"}], "heartbeat='30' (str)"),
        ([{"name": "a", "heartbeat": 100000}], "heartbeat=100000 (int): allowed"),
    ],
)
def test_bad_declarations_name_the_item(items, message):
    with pytest.raises(KeepaliveError) as caught:
        heartbeat.normalize_heartbeats(items)
    assert message in str(caught.value)
    assert caught.value.details["option"] == "heartbeats"


def test_declared_heartbeat():
    assert heartbeat.normalize_heartbeats([{"name": "chat*.service", "heartbeat": 30}]) == [
        {
            "name": "chat*.service",
            "interval": 30,
            "source": "declared",
            "label": "chat*.service's heartbeat",
        }
    ]
    assert heartbeat.normalize_heartbeats(None) == []


@pytest.mark.parametrize(
    "unit, comm, found",
    [
        ("ssh.service", "sshd", "sshd"),
        ("sshd-hb.service", "sshd", "sshd"),
        ("chat-gateway.service", "node", "chat*.service"),
        ("web.service", "chat", None),
    ],
)
def test_heartbeat_of(unit, comm, found):
    declared = heartbeat.normalize_heartbeats([{"name": "chat*.service", "heartbeat": 30}])
    beat = heartbeat.heartbeat_of({"unit": unit, "comm": comm}, declared + [SSHD])
    assert (beat and beat["name"]) == found


def test_sshd_heartbeat_shorter_than_the_path_passes():
    (verdict,) = heartbeat.heartbeat_verdicts(
        "ssh.service sshd [root] established (1 sockets)", SSHD, AZURE, 30, 80
    )
    assert verdict == {
        "check": "socket_idle",
        "subject": "ssh.service sshd [root] established (1 sockets) via azure_lb_standard",
        "status": "pass",
        "value": 60,
        "limit": 210,
        "message": "ssh.service sshd [root] established (1 sockets): kept open by sshd's "
        "ClientAlive heartbeat every 60 s (sshd -T): it leaves 180 s before Azure Load Balancer "
        "(Standard) (azure_lb_standard) drops an idle connection at 240 s",
    }


def test_sshd_heartbeat_longer_than_the_path_fails_naming_box_and_value():
    slow = dict(SSHD, interval=300)
    (verdict,) = heartbeat.heartbeat_verdicts("s", slow, AZURE, 30, 80)
    assert verdict["status"] == "fail"
    assert verdict["message"] == (
        "s: Azure Load Balancer (Standard) (azure_lb_standard) drops an idle connection after "
        "240 s, but sshd's ClientAlive heartbeat every 300 s (sshd -T): set "
        "ClientAliveInterval 80 in sshd_config (at most 210 s)"
    )
    assert verdict["advice"]["set"] == "ClientAliveInterval 80; ClientAliveCountMax 3"
    # Within the margin: a warning with the same advice.
    (close,) = heartbeat.heartbeat_verdicts("s", dict(SSHD, interval=230), AZURE, 30, 80)
    assert close["status"] == "warn" and close["advice"]["service"] == "sshd"


def test_heartbeat_is_judged_against_proxies_too():
    boxes = resolve_path(["aws_alb", "aws_nat_gateway", "haproxy"])
    declared = heartbeat.normalize_heartbeats([{"name": "app", "heartbeat": 90}])[0]
    verdicts = heartbeat.heartbeat_verdicts("app", declared, boxes, 30, 20)
    assert [(v["subject"], v["status"]) for v in verdicts] == [
        ("app via aws_alb", "fail"),
        ("app via aws_nat_gateway", "pass"),
        ("app via haproxy", "warn"),
    ]
    assert verdicts[0]["message"].endswith(
        "but app's heartbeat every 90 s (declared): send it every 20 s (at most 30 s)"
    )
    assert verdicts[0]["advice"] == {
        "service": "app",
        "where": "the service's own heartbeat setting",
        "knob": "heartbeat interval",
        "set": "20 s",
        "doc": "",
        "why": "its heartbeat is data and keeps every box open only when it comes before the "
        "smallest idle timeout; declared as 90 s",
    }
    assert "has no known idle timeout" in verdicts[2]["message"]

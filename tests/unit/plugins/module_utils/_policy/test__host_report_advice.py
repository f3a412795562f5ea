"""The host report carries each socket group's advice and says the fix in its problems."""

from __future__ import annotations

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    path_verdicts,
)

REDIS_300 = {
    "netns": "net:[1]",
    "unit": "redis-server.service",
    "comm": "redis-server",
    "state": "established",
    "keepalive": True,
    "idle": 300,
    "intvl": 100,
    "cnt": 3,
    "user_timeout": None,
    "source": "getsockopt",
    "count": 3,
}


def test_the_problem_line_says_how_to_fix_the_group():
    verdicts = path_verdicts([REDIS_300], ["azure_lb_standard"])
    sockets = {"summary": [REDIS_300], "namespaces": {}, "verdicts": verdicts}
    report = host_report(plan_values({}, ["azure_lb_standard"]), "db-1", sockets=sockets)
    (failing,) = [v for v in report["verdicts"] if v["check"] == "socket_idle"]
    assert failing["advice"]["set"] == "tcp-keepalive 210"
    (line,) = [p for p in report["problems"] if p.startswith("socket_idle")]
    assert line.endswith(
        "; how to fix: tcp-keepalive 210 (redis: redis.conf (/etc/redis/redis.conf), or "
        "CONFIG SET tcp-keepalive 210 at runtime)"
    )
    # The verdict itself keeps the policy's message; only the problem line adds the fix.
    assert "how to fix" not in failing["message"]

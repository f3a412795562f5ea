"""tcp_keepalive_heartbeats and heartbeats in tcp_keepalive_require, as the role checks them."""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._role_inputs import (
    check_role_inputs,
)
from ansible_collections.netstack.keepalive.tests.unit.plugins.module_utils._policy.test__role_inputs import (  # noqa: E501
    GOOD,
)


def test_declared_heartbeats_pass_through_and_require_takes_one():
    variables = dict(
        GOOD,
        tcp_keepalive_heartbeats=[{"name": "chat.service", "heartbeat": 25}],
        tcp_keepalive_require=[{"name": "sshd", "heartbeat": 60}],
    )
    result = check_role_inputs(variables)
    assert result["valid"] is True
    assert result["heartbeats"] == [{"name": "chat.service", "heartbeat": 25}]
    assert result["require"] == [{"name": "sshd", "states": ["established"], "heartbeat": 60}]


@pytest.mark.parametrize(
    "variable, value, message",
    [
        (
            "tcp_keepalive_heartbeats",
            {"name": "a", "heartbeat": 5},
            "tcp_keepalive_heartbeats={'name': 'a', 'heartbeat': 5} (dict): allowed: a list of "
            "{name: UNIT_OR_COMMAND, heartbeat: SECONDS}",
        ),
        (
            "tcp_keepalive_heartbeats",
            [{"name": "a", "heartbeat": "30s"}],
            "tcp_keepalive_heartbeats[1]={'name': 'a', 'heartbeat': '30s'}: heartbeat='30s' "
            "(str): allowed: the seconds between the service's heartbeats, an integer 1..86400",
        ),
        (
            "tcp_keepalive_heartbeats",
            [{"unit": "a", "heartbeat": 3}],
            "unknown keys ['unit']; allowed keys: name, heartbeat",
        ),
        (
            "tcp_keepalive_require",
            [{"name": "sshd", "heartbeat": 0}],
            "tcp_keepalive_require[1]={'name': 'sshd', 'heartbeat': 0}: heartbeat=0 (int)",
        ),
    ],
)
def test_bad_heartbeats_are_named(variable, value, message):
    result = check_role_inputs(dict(GOOD, **{variable: value}))
    assert result["valid"] is False and result["heartbeats"] is None
    assert message in result["errors"][0]

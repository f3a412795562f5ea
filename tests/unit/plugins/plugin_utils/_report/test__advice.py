"""The fleet report's "how to fix" column: advice kept by the model, checked by the schema,
shown in the Markdown and HTML problems tables."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    redis_advice,
)
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _model as model
from ansible_collections.netstack.keepalive.plugins.plugin_utils._report import _render as render

WHEN = datetime.datetime(2026, 11, 22, 9, 30, 5, tzinfo=datetime.UTC)
ADVICE = redis_advice({"time": 210, "intvl": 10, "probes": 3})


def host(advice="redis"):
    """A host with one failing redis group; ``advice`` "redis" is ADVICE, None none."""
    advice = ADVICE if advice == "redis" else advice
    verdict = {
        "check": "socket_idle",
        "subject": "redis-server.service redis-server [net:[1]] established (3 sockets) via "
        "azure_lb_standard",
        "status": "fail",
        "value": 300,
        "limit": 210,
        "message": "redis drops",
    }
    if advice is not None:
        verdict["advice"] = advice
    return {"host": "db-1", "status": "fail", "verdicts": [verdict]}


def test_the_model_keeps_advice_only_where_given():
    doc = model.build_report([host(), dict(host(None), host="db-2")], generated_at=WHEN)
    with_advice, without = doc["problems"]
    assert with_advice["advice"] == ADVICE
    assert "advice" not in without


@pytest.mark.parametrize(
    "advice, message",
    [
        (
            "tcp-keepalive 210",
            "'verdicts[0].advice' must be a dict or null, got 'tcp-keepalive 210'",
        ),
        (dict(ADVICE, set=210), "'verdicts[0].advice.set' must be a string or null, got 210"),
    ],
)
def test_the_schema_refuses_advice_of_another_shape(advice, message):
    with pytest.raises(KeepaliveError) as caught:
        model.build_report([host(advice)], generated_at=WHEN)
    assert message in str(caught.value)


def test_markdown_and_html_have_a_how_to_fix_column():
    doc = model.build_report([host(), dict(host(None), host="db-2")], generated_at=WHEN)
    text = render.render_markdown(doc)
    assert "| Status | Host | Check | Subject | Message | How to fix |" in text
    assert (
        "| redis drops | tcp-keepalive 210 (redis: redis.conf (/etc/redis/redis.conf), or CONFIG "
        "SET tcp-keepalive 210 at runtime) [docs](%s) |" % ADVICE["doc"]
    ) in text
    assert "| redis drops |  |" in text  # db-2: no advice, an empty cell
    html = render.render_html(doc)
    assert "<th>How to fix</th>" in html
    assert (
        '<td class="msg">tcp-keepalive 210 (redis: redis.conf (/etc/redis/redis.conf), or '
        'CONFIG SET tcp-keepalive 210 at runtime) <a href="%s">docs</a></td>' % ADVICE["doc"]
    ) in html

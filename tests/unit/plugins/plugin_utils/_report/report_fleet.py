"""Four realistic host reports, made by the collection's own host-report code.

Used by the report unit tests and by tests/integration/test_report_browser.py. The hosts:

- ``aws-web-1``: AWS NLB + NAT gateway, enforce run that changed 7200/75/9 to the profile's
  values, nginx sockets with keepalive on: pass.
- ``azure-db-1``: Azure Standard LB, audit of an untouched host (Linux defaults, 7200 s):
  fail (the LB forgets idle connections after 240 s), plus a shadowing sysctl.conf line.
- ``gcp-worker-1``: Google Cloud NAT, enforce run in check mode, one socket group with
  keepalive off: fail on that socket group only.
- ``proxy-app-1``: Envoy in front of an AWS NLB: pass on keepalive, warn for the
  application heartbeat (a proxy's idle timer is not reset by TCP keepalive).
"""

from __future__ import annotations

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    path_verdicts,
    require_verdicts,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._host_report import (
    host_report,
    plan_values,
)

OUR_FILE = "/etc/sysctl.d/90-netstack-keepalive.conf"
LINUX_DEFAULTS = (7200, 75, 9)
NGINX_ESTABLISHED = {"name": "nginx.service", "states": ["established"]}


def _sysctl(before, after, boot=None, shadowed_by=(), retries2=None):
    def options(values):
        return dict(
            zip(
                ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes"),
                values,
                strict=True,
            )
        )

    boot_options = options(boot or after)
    # keepalive_sysctl reads tcp_retries2 only when it is given the option.
    extra = {} if retries2 is None else {"tcp_retries2": retries2}
    return {
        "before": dict(options(before), **extra),
        "after": dict(options(after), **extra),
        "changed": before != after,
        "file": OUR_FILE,
        "boot_values": {
            name: {"value": value, "source": "%s:%d" % (OUR_FILE, line)}
            for line, (name, value) in enumerate(boot_options.items(), 2)
        },
        "boot_values_before": {
            name: {"value": value, "source": "/usr/lib/sysctl.d/50-default.conf (kernel default)"}
            for name, value in options(before).items()
        },
        "shadowed_by": list(shadowed_by),
    }


def _row(unit, comm, state, keepalive, idle, count, netns="host", stalled=None):
    """A summary row; ``stalled`` (retransmitting, probing) as the module now counts them,
    None for a row of an older module that did not."""
    row = {
        "netns": netns,
        "unit": unit,
        "comm": comm,
        "state": state,
        "keepalive": keepalive,
        "idle": idle,
        "intvl": 20 if keepalive else None,
        "cnt": 3 if keepalive else None,
        "user_timeout": None,
        "source": "getsockopt",
        "count": count,
    }
    if stalled is not None:
        row["retransmitting"], row["probing"] = stalled
    return row


def _sockets(rows, path, require=()):
    return {
        "summary": rows,
        "namespaces": {  # as keepalive_sockets_info returns them
            "net:[4026531840]": {
                "tcp_keepalive_time": 180,
                "tcp_keepalive_intvl": 20,
                "tcp_keepalive_probes": 3,
                "inode": 4026531840,
                "names": [],
                "current": True,
                "sockets": 52,
            },
        },
        "verdicts": path_verdicts(rows, path) + require_verdicts(rows, require, ["established"]),
    }


def _values(planned):
    values = planned["intended"]
    return values["time"], values["intvl"], values["probes"]


def aws_web():
    path = ["aws_nlb", "aws_nat_gateway"]
    planned = plan_values("cloud", path)
    rows = [_row("nginx.service", "nginx", "established", True, 180, 42)]
    return host_report(
        planned,
        "aws-web-1",
        mode="enforce",
        sysctl=_sysctl(LINUX_DEFAULTS, _values(planned)),
        sockets=_sockets(rows, path, require=[NGINX_ESTABLISHED]),
    )


def azure_db():
    planned = plan_values("cloud", ["azure_lb_standard"])
    shadow = {
        "file": "/etc/sysctl.conf",
        "line": 12,
        "key": "net.ipv4.tcp_keepalive_time",
        "value": "7200",
    }
    return host_report(
        planned,
        "azure-db-1",
        mode="audit",
        sysctl=_sysctl(LINUX_DEFAULTS, LINUX_DEFAULTS, shadowed_by=[shadow]),
    )


def gcp_worker():
    path = ["gcp_cloud_nat"]
    planned = plan_values("cloud", path)
    rows = [
        _row("worker.service", "worker", "established", True, 180, 8, stalled=(1, 2)),
        _row("legacy-sync.service", "rsync", "established", False, None, 2, stalled=(2, 0)),
    ]
    return host_report(
        planned,
        "gcp-worker-1",
        mode="enforce",
        check_mode=True,
        sysctl=_sysctl(LINUX_DEFAULTS, _values(planned), retries2=8),
        sockets=_sockets(rows, path),
    )


def proxy_app():
    planned = plan_values("cloud", ["envoy", "aws_nlb"])
    values = _values(planned)
    return host_report(planned, "proxy-app-1", mode="audit", sysctl=_sysctl(values, values))


def fleet():
    """The four host reports, deliberately not in name order."""
    return [proxy_app(), azure_db(), aws_web(), gcp_worker()]

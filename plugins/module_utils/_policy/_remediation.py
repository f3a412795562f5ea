# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to fix a socket group that fails the path: the service's own knob (pure, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.

Most fixes are not in sysctl at all: redis sets its own per-socket values from
``tcp-keepalive``, nginx from ``so_keepalive=``, PostgreSQL from ``tcp_keepalives_*``, and a
hardened sshd needs its ClientAlive heartbeat rather than keepalive. ``advise`` names the
service a group belongs to (by unit and command, ``SERVICES``), the knob, the value that
passes on this path (``passing_values``: the policy engine's own derivation for the
profile, so the service and the host sysctl agree), where it goes and its documentation.

An advice is ``{service, where, knob, set, doc, why}`` (``ADVICE_KEYS``), all strings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._engine import (
    derive,
    recommended_heartbeat,
    resolve_path,
    resolve_profile,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._services import (
    SSHD_COMMS,
    SSHD_UNITS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    OPTION_OF,
    pattern_matcher,
)

ADVICE_KEYS = ("service", "where", "knob", "set", "doc", "why")

DOCS = {
    "redis": "https://redis.io/docs/latest/operate/oss_and_stack/management/config-file/",
    "postgresql": "https://www.postgresql.org/docs/current/runtime-config-connection.html"
    "#GUC-TCP-KEEPALIVES-IDLE",
    "libpq": "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-KEEPALIVES",
    "mariadb": "https://mariadb.com/kb/en/server-system-variables/#tcp_keepalive_time",
    "nginx": "https://nginx.org/en/docs/http/ngx_http_core_module.html#listen",
    "haproxy": "https://docs.haproxy.org/2.8/configuration.html#4.2-option%20clitcpka",
    "sshd": "https://man.openbsd.org/sshd_config#ClientAliveInterval",
    "envoy": "https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/"
    "address.proto#config-core-v3-tcpkeepalive",
    "go": "https://pkg.go.dev/net#KeepAliveConfig",
    "java": "https://docs.oracle.com/en/java/javase/17/docs/api/jdk.net/jdk/net/"
    "ExtendedSocketOptions.html",
    "node": "https://nodejs.org/api/net.html#socketsetkeepaliveenable-initialdelay",
    "python": "https://docs.python.org/3/library/socket.html#socket.socket.setsockopt",
    "sysctl": "https://docs.kernel.org/networking/ip-sysctl.html",
}

# (service, unit patterns, command patterns), first match wins. Commands are the kernel's
# 15-character comm; units are systemd's.
SERVICES = (
    ("redis", ("redis*.service",), ("redis-server", "redis-sentinel")),
    ("postgresql", ("postgresql*.service",), ("postgres", "postmaster")),
    ("libpq", (), ("psql", "pg_dump", "pg_dumpall", "pg_restore", "pgbench", "pg_basebackup")),
    ("mariadb", ("mariadb*.service", "mysql*.service"), ("mariadbd", "mysqld")),
    ("nginx", ("nginx*.service",), ("nginx",)),
    ("haproxy", ("haproxy*.service",), ("haproxy",)),
    ("sshd", SSHD_UNITS, SSHD_COMMS),
    ("envoy", ("envoy*.service",), ("envoy",)),
    ("java", (), ("java",)),
    ("node", (), ("node", "nodejs")),
    ("python", (), ("python", "python2*", "python3*")),
)


_MATCHERS = tuple(
    (service, pattern_matcher(units), pattern_matcher(comms)) for service, units, comms in SERVICES
)


def identify(unit, comm):
    """The service key of ``SERVICES`` a group belongs to, or None (any other program)."""
    for service, unit_matches, comm_matches in _MATCHERS:
        if unit_matches(unit) or comm_matches(comm):
            return service
    return None


def passing_values(path, profile=None, profiles=None):
    """``{time, intvl, probes}`` a group needs to pass ``path``, or None if none can.

    The engine's derivation for ``profile`` (what the host's sysctl gets, so one set of
    values everywhere); when the profile's explicit values fail the path, the derivation of
    its requirements alone; when those cannot be met, of the path alone.
    """
    prof = resolve_profile({} if profile is None else profile, profiles)
    requirements = {
        key: prof[key]
        for key in ("detect_within", "tolerate_outage", "margin")
        if prof[key] is not None
    }
    for spec, specs in ((profile or {}, profiles), (requirements, None), ({}, None)):
        try:
            derived = derive(spec, path, specs)
        except KeepaliveError:
            continue
        if not derived["violations"]:
            return dict(derived["values"])
    return None


def heartbeat_interval(path, profile=None, profiles=None):
    """Seconds between heartbeats that keep every box on ``path`` open: a third of the
    smallest idle timeout (a heartbeat is data: layer-4 boxes and proxies alike)."""
    prof = resolve_profile({} if profile is None else profile, profiles)
    seconds, _basis = recommended_heartbeat(
        resolve_path(path), prof["detect_within"], proxies_only=False
    )
    return seconds


def advise(row, path, profile=None, profiles=None, namespace=None, container_advice=None):
    """The advice for a failing group ``row`` (a summary row) on ``path``, or None.

    ``namespace`` is the group's namespace entry of the audit (its sysctls, its ``owner``
    when a container or pod holds it); ``container_advice(owner, values)`` gives the
    runtime's own setting for such a namespace.
    """
    values = passing_values(path, profile, profiles)
    heartbeat = heartbeat_interval(path, profile, profiles)
    return advice_for(row, values, heartbeat, namespace, container_advice)


def advice_for(row, values, heartbeat, namespace=None, container_advice=None):
    """``advise`` with the path's ``passing_values`` and ``heartbeat_interval`` worked out
    once for every group of an audit."""
    if values is None:
        return None
    service = identify(row.get("unit"), row.get("comm"))
    if service == "sshd":
        return None if heartbeat is None else sshd_advice(heartbeat)
    if service is not None:
        return ADVISORS[service](values)
    if row.get("keepalive") and _follows_sysctl(row, namespace):
        # Only a group that follows its namespace's sysctls is fixed by them; in a container's
        # namespace those are set through the runtime, never written into the namespace.
        owner = (namespace or {}).get("owner")
        found = container_advice(owner, values) if owner and container_advice else None
        return found or sysctl_advice(values)
    return runtime_advice(values)


def _follows_sysctl(row, namespace):
    """Do the group's values come from its namespace's sysctls (nothing set per socket)?"""
    if not namespace:
        return False
    own = (row.get("idle"), row.get("intvl"), row.get("cnt"))
    return own == tuple(namespace.get(OPTION_OF[name]) for name in ("time", "intvl", "probes"))


def _advice(service, where, knob, value, doc, why):
    return {"service": service, "where": where, "knob": knob, "set": value, "doc": doc, "why": why}


def redis_advice(values):
    seconds = values["time"]
    return _advice(
        "redis",
        "redis.conf (/etc/redis/redis.conf), or CONFIG SET tcp-keepalive %d at runtime" % seconds,
        "tcp-keepalive",
        "tcp-keepalive %d" % seconds,
        DOCS["redis"],
        "redis sets its own keepalive on every client connection: idle %d s, interval %d s, "
        "3 probes (N, N/3, 3); the host sysctl does not reach them"
        % (seconds, max(seconds // 3, 1)),
    )


def postgresql_advice(values):
    return _advice(
        "PostgreSQL server",
        "postgresql.conf, or ALTER SYSTEM SET ... then SELECT pg_reload_conf()",
        "tcp_keepalives_idle, tcp_keepalives_interval, tcp_keepalives_count",
        "tcp_keepalives_idle = %(time)d; tcp_keepalives_interval = %(intvl)d; "
        "tcp_keepalives_count = %(probes)d" % values,
        DOCS["postgresql"],
        "PostgreSQL sets these on every client connection (0 means the host sysctl); "
        "tcp_user_timeout (ms) also bounds connections with data in flight",
    )


def libpq_advice(values):
    return _advice(
        "libpq client",
        "the client's connection string (keywords or URI parameters)",
        "keepalives, keepalives_idle, keepalives_interval, keepalives_count",
        "keepalives=1 keepalives_idle=%(time)d keepalives_interval=%(intvl)d "
        "keepalives_count=%(probes)d" % values,
        DOCS["libpq"],
        "libpq sets these per connection; tcp_user_timeout (ms) bounds connections with data "
        "in flight",
    )


def mariadb_advice(values):
    return _advice(
        "MariaDB",
        "the [mariadbd] section of the server's option file "
        "(/etc/mysql/mariadb.conf.d/50-server.cnf)",
        "tcp_keepalive_time, tcp_keepalive_interval, tcp_keepalive_probes",
        "tcp_keepalive_time = %(time)d; tcp_keepalive_interval = %(intvl)d; "
        "tcp_keepalive_probes = %(probes)d" % values,
        DOCS["mariadb"],
        "MariaDB 10.3.3 and later set these on client connections (0 means the host "
        "sysctl); MySQL has no such server setting and follows the host sysctl",
    )


def nginx_advice(values):
    return _advice(
        "nginx",
        "every listen directive of the server blocks (nginx.conf, sites-enabled/)",
        "listen ... so_keepalive=idle:intvl:cnt",
        "listen ... so_keepalive=%(time)d:%(intvl)d:%(probes)d" % values,
        DOCS["nginx"],
        "accepted connections inherit the listener's options; upstream connections need "
        "proxy_socket_keepalive on, which uses the host sysctl",
    )


def haproxy_advice(values):
    return _advice(
        "HAProxy",
        "haproxy.cfg: the defaults or frontend section (client side), backend (server side)",
        "option clitcpka, clitcpka-idle, clitcpka-intvl, clitcpka-cnt",
        "option clitcpka; clitcpka-idle %(time)ds; clitcpka-intvl %(intvl)ds; "
        "clitcpka-cnt %(probes)d" % values,
        DOCS["haproxy"],
        "HAProxy 2.2 and later; option srvtcpka with srvtcpka-idle, -intvl, -cnt do the same "
        "for connections to the servers",
    )


def envoy_advice(values):
    return _advice(
        "Envoy",
        "each cluster's upstream_connection_options (downstream: the listener's socket_options)",
        "upstream_connection_options.tcp_keepalive",
        "tcp_keepalive: {keepalive_time: %(time)d, keepalive_interval: %(intvl)d, "
        "keepalive_probes: %(probes)d}" % values,
        DOCS["envoy"],
        "Envoy sets no keepalive unless configured; HTTP/2 connection_keepalive sends PINGs, "
        "which also keep proxies open",
    )


def java_advice(values):
    return _advice(
        "Java",
        "the application's socket setup (JDK 11 and later)",
        "setKeepAlive(true), jdk.net.ExtendedSocketOptions TCP_KEEPIDLE, TCP_KEEPINTERVAL, "
        "TCP_KEEPCOUNT",
        "socket.setKeepAlive(true); socket.setOption(ExtendedSocketOptions.TCP_KEEPIDLE, "
        "%(time)d); ...TCP_KEEPINTERVAL, %(intvl)d); ...TCP_KEEPCOUNT, %(probes)d)" % values,
        DOCS["java"],
        "setKeepAlive alone uses the host sysctl; drivers have their own switch (PgJDBC "
        "tcpKeepAlive, off by default)",
    )


def node_advice(values):
    return _advice(
        "Node.js",
        "the application's socket setup",
        "socket.setKeepAlive(enable, initialDelay)",
        "socket.setKeepAlive(true, %d)" % (values["time"] * 1000),
        DOCS["node"],
        "initialDelay is the idle time in ms; libuv 1.35 and later then probe every 1 s, 10 times",
    )


def python_advice(values):
    return _advice(
        "Python",
        "the application's socket setup",
        "SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT",
        "sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1); "
        "sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, %(time)d); "
        "...TCP_KEEPINTVL, %(intvl)d); ...TCP_KEEPCNT, %(probes)d)" % values,
        DOCS["python"],
        "Python sets no keepalive by default; SO_KEEPALIVE alone uses the host sysctl",
    )


def runtime_advice(values):
    return _advice(
        "other program",
        "the program's socket setup, in its language runtime",
        "SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT",
        "SO_KEEPALIVE 1, TCP_KEEPIDLE %(time)d, TCP_KEEPINTVL %(intvl)d, TCP_KEEPCNT %(probes)d"
        % values,
        DOCS["go"],
        "Go turns keepalive on by default at 15 s (net.Dialer.KeepAlive, KeepAliveConfig "
        "since 1.23), Java with Socket.setKeepAlive and jdk.net.ExtendedSocketOptions, "
        "Node.js with socket.setKeepAlive(true, ms), Python with socket.setsockopt",
    )


def sysctl_advice(values):
    return _advice(
        "host sysctl",
        "the network namespace's sysctls: the tcp_keepalive role or keepalive_sysctl",
        "net.ipv4.tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes",
        "net.ipv4.tcp_keepalive_time = %(time)d; net.ipv4.tcp_keepalive_intvl = %(intvl)d; "
        "net.ipv4.tcp_keepalive_probes = %(probes)d" % values,
        DOCS["sysctl"],
        "the group turns SO_KEEPALIVE on and takes every value from its namespace's sysctls",
    )


def sshd_advice(interval, count_max=3):
    """sshd's heartbeat: data, so it keeps layer-4 boxes and proxies open alike."""
    return _advice(
        "sshd",
        "/etc/ssh/sshd_config (or a file in /etc/ssh/sshd_config.d/), then reload ssh",
        "ClientAliveInterval, ClientAliveCountMax",
        "ClientAliveInterval %d; ClientAliveCountMax %d" % (interval, count_max),
        DOCS["sshd"],
        "an encrypted in-band heartbeat every %d s keeps every box on the path open, with "
        "TCPKeepAlive no as well; a dead client is dropped after %d unanswered ones"
        % (interval, count_max),
    )


ADVISORS = {
    "redis": redis_advice,
    "postgresql": postgresql_advice,
    "libpq": libpq_advice,
    "mariadb": mariadb_advice,
    "nginx": nginx_advice,
    "haproxy": haproxy_advice,
    "envoy": envoy_advice,
    "java": java_advice,
    "node": node_advice,
    "python": python_advice,
}

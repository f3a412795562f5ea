"""The remediation advisor: which service a group is, and every advice string, pinned.

On ``[azure_lb_standard]`` (240 s) with no profile the engine derives 210 / 10 / 3, so every
knob below is set to those values; sshd's heartbeat is a third of 240 s.
"""

from __future__ import annotations

import pytest

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation as remediation,
)

AZURE = ["azure_lb_standard"]


def row(unit=None, comm=None, keepalive=True, idle=300, intvl=100, cnt=3):
    return {
        "netns": "root",
        "unit": unit,
        "comm": comm,
        "state": "established",
        "keepalive": keepalive,
        "idle": idle,
        "intvl": intvl,
        "cnt": cnt,
        "source": "getsockopt",
        "count": 1,
    }


@pytest.mark.parametrize(
    "unit, comm, service",
    [
        ("redis-server.service", "redis-server", "redis"),
        (None, "redis-server", "redis"),
        ("redis-ka60.service", "something", "redis"),
        ("postgresql@15-main.service", "postgres", "postgresql"),
        ("user@0.service", "psql", "libpq"),
        ("mariadb.service", "mariadbd", "mariadb"),
        (None, "mysqld", "mariadb"),
        ("nginx.service", "nginx", "nginx"),
        ("haproxy.service", "haproxy", "haproxy"),
        ("ssh.service", "sshd", "sshd"),
        (None, "sshd-session", "sshd"),
        ("envoy.service", "envoy", "envoy"),
        ("app.service", "java", "java"),
        ("app.service", "node", "node"),
        ("app.service", "python3.11", "python"),
        ("app.service", "myserver", None),
        (None, None, None),
    ],
)
def test_identify(unit, comm, service):
    assert remediation.identify(unit, comm) == service


@pytest.mark.parametrize(
    "path, profile, values",
    [
        (AZURE, None, {"time": 210, "intvl": 10, "probes": 3}),
        (["aws_nlb", "aws_nat_gateway"], "cloud", {"time": 180, "intvl": 20, "probes": 3}),
        # cloud's explicit 180 s fails a 60 s box: its requirements alone are derived.
        (
            [{"name": "fw60", "idle_timeout": 60, "layer": 4}],
            "cloud",
            {"time": 30, "intvl": 20, "probes": 3},
        ),
        # 5 s leaves no room for the default margin and outage tolerance: the path alone.
        ([{"name": "tiny", "idle_timeout": 5, "layer": 4}], None, None),
    ],
)
def test_passing_values(path, profile, values):
    assert remediation.passing_values(path, profile) == values


ADVICE = [
    (
        row("redis-server.service", "redis-server"),
        {
            "service": "redis",
            "where": "redis.conf (/etc/redis/redis.conf), or CONFIG SET tcp-keepalive 210 at "
            "runtime",
            "knob": "tcp-keepalive",
            "set": "tcp-keepalive 210",
            "doc": "https://redis.io/docs/latest/operate/oss_and_stack/management/config-file/",
            "why": "redis sets its own keepalive on every client connection: idle 210 s, "
            "interval 70 s, 3 probes (N, N/3, 3); the host sysctl does not reach them",
        },
    ),
    (
        row("postgresql@15-main.service", "postgres"),
        {
            "service": "PostgreSQL server",
            "where": "postgresql.conf, or ALTER SYSTEM SET ... then SELECT pg_reload_conf()",
            "knob": "tcp_keepalives_idle, tcp_keepalives_interval, tcp_keepalives_count",
            "set": "tcp_keepalives_idle = 210; tcp_keepalives_interval = 10; "
            "tcp_keepalives_count = 3",
            "doc": "https://www.postgresql.org/docs/current/runtime-config-connection.html"
            "#GUC-TCP-KEEPALIVES-IDLE",
            "why": "PostgreSQL sets these on every client connection (0 means the host "
            "sysctl); tcp_user_timeout (ms) also bounds connections with data in flight",
        },
    ),
    (
        row(None, "psql"),
        {
            "service": "libpq client",
            "where": "the client's connection string (keywords or URI parameters)",
            "knob": "keepalives, keepalives_idle, keepalives_interval, keepalives_count",
            "set": "keepalives=1 keepalives_idle=210 keepalives_interval=10 keepalives_count=3",
            "doc": "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-KEEPALIVES",
            "why": "libpq sets these per connection; tcp_user_timeout (ms) bounds connections "
            "with data in flight",
        },
    ),
    (
        row("mariadb.service", "mariadbd"),
        {
            "service": "MariaDB",
            "where": "the [mariadbd] section of the server's option file "
            "(/etc/mysql/mariadb.conf.d/50-server.cnf)",
            "knob": "tcp_keepalive_time, tcp_keepalive_interval, tcp_keepalive_probes",
            "set": "tcp_keepalive_time = 210; tcp_keepalive_interval = 10; "
            "tcp_keepalive_probes = 3",
            "doc": "https://mariadb.com/kb/en/server-system-variables/#tcp_keepalive_time",
            "why": "MariaDB 10.3.3 and later set these on client connections (0 means the "
            "host sysctl); MySQL has no such server setting and follows the host sysctl",
        },
    ),
    (
        row("nginx.service", "nginx", keepalive=False),
        {
            "service": "nginx",
            "where": "every listen directive of the server blocks (nginx.conf, sites-enabled/)",
            "knob": "listen ... so_keepalive=idle:intvl:cnt",
            "set": "listen ... so_keepalive=210:10:3",
            "doc": "https://nginx.org/en/docs/http/ngx_http_core_module.html#listen",
            "why": "accepted connections inherit the listener's options; upstream "
            "connections need proxy_socket_keepalive on, which uses the host sysctl",
        },
    ),
    (
        row("haproxy.service", "haproxy"),
        {
            "service": "HAProxy",
            "where": "haproxy.cfg: the defaults or frontend section (client side), backend "
            "(server side)",
            "knob": "option clitcpka, clitcpka-idle, clitcpka-intvl, clitcpka-cnt",
            "set": "option clitcpka; clitcpka-idle 210s; clitcpka-intvl 10s; clitcpka-cnt 3",
            "doc": "https://docs.haproxy.org/2.8/configuration.html#4.2-option%20clitcpka",
            "why": "HAProxy 2.2 and later; option srvtcpka with srvtcpka-idle, -intvl, -cnt do "
            "the same for connections to the servers",
        },
    ),
    (
        row("ssh.service", "sshd", keepalive=False),
        {
            "service": "sshd",
            "where": "/etc/ssh/sshd_config (or a file in /etc/ssh/sshd_config.d/), then reload ssh",
            "knob": "ClientAliveInterval, ClientAliveCountMax",
            "set": "ClientAliveInterval 80; ClientAliveCountMax 3",
            "doc": "https://man.openbsd.org/sshd_config#ClientAliveInterval",
            "why": "an encrypted in-band heartbeat every 80 s keeps every box on the path open, "
            "with TCPKeepAlive no as well; a dead client is dropped after 3 unanswered ones",
        },
    ),
    (
        row("envoy.service", "envoy", keepalive=False),
        {
            "service": "Envoy",
            "where": "each cluster's upstream_connection_options (downstream: the listener's "
            "socket_options)",
            "knob": "upstream_connection_options.tcp_keepalive",
            "set": "tcp_keepalive: {keepalive_time: 210, keepalive_interval: 10, "
            "keepalive_probes: 3}",
            "doc": "https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/"
            "address.proto#config-core-v3-tcpkeepalive",
            "why": "Envoy sets no keepalive unless configured; HTTP/2 connection_keepalive "
            "sends PINGs, which also keep proxies open",
        },
    ),
    (
        row("app.service", "java"),
        {
            "service": "Java",
            "where": "the application's socket setup (JDK 11 and later)",
            "knob": "setKeepAlive(true), jdk.net.ExtendedSocketOptions TCP_KEEPIDLE, "
            "TCP_KEEPINTERVAL, TCP_KEEPCOUNT",
            "set": "socket.setKeepAlive(true); socket.setOption(ExtendedSocketOptions."
            "TCP_KEEPIDLE, 210); ...TCP_KEEPINTERVAL, 10); ...TCP_KEEPCOUNT, 3)",
            "doc": "https://docs.oracle.com/en/java/javase/17/docs/api/jdk.net/jdk/net/"
            "ExtendedSocketOptions.html",
            "why": "setKeepAlive alone uses the host sysctl; drivers have their own switch "
            "(PgJDBC tcpKeepAlive, off by default)",
        },
    ),
    (
        row("app.service", "node"),
        {
            "service": "Node.js",
            "where": "the application's socket setup",
            "knob": "socket.setKeepAlive(enable, initialDelay)",
            "set": "socket.setKeepAlive(true, 210000)",
            "doc": "https://nodejs.org/api/net.html#socketsetkeepaliveenable-initialdelay",
            "why": "initialDelay is the idle time in ms; libuv 1.35 and later then probe every "
            "1 s, 10 times",
        },
    ),
    (
        row("app.service", "python3"),
        {
            "service": "Python",
            "where": "the application's socket setup",
            "knob": "SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT",
            "set": "sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1); "
            "sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 210); "
            "...TCP_KEEPINTVL, 10); ...TCP_KEEPCNT, 3)",
            "doc": "https://docs.python.org/3/library/socket.html#socket.socket.setsockopt",
            "why": "Python sets no keepalive by default; SO_KEEPALIVE alone uses the host sysctl",
        },
    ),
    (
        row("app.service", "myserver", keepalive=False),
        {
            "service": "other program",
            "where": "the program's socket setup, in its language runtime",
            "knob": "SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT",
            "set": "SO_KEEPALIVE 1, TCP_KEEPIDLE 210, TCP_KEEPINTVL 10, TCP_KEEPCNT 3",
            "doc": "https://pkg.go.dev/net#KeepAliveConfig",
            "why": "Go turns keepalive on by default at 15 s (net.Dialer.KeepAlive, "
            "KeepAliveConfig since 1.23), Java with Socket.setKeepAlive and "
            "jdk.net.ExtendedSocketOptions, Node.js with socket.setKeepAlive(true, ms), "
            "Python with socket.setsockopt",
        },
    ),
]


@pytest.mark.parametrize(
    "group, advice", ADVICE, ids=[advice["service"] for _group, advice in ADVICE]
)
def test_advice_strings(group, advice):
    assert remediation.advise(group, AZURE) == advice
    assert tuple(advice) == remediation.ADVICE_KEYS


NAMESPACE_7200 = {
    "tcp_keepalive_time": 7200,
    "tcp_keepalive_intvl": 75,
    "tcp_keepalive_probes": 9,
}


def test_sysctl_advice_when_the_group_follows_its_namespace():
    group = row("app.service", "myserver", idle=7200, intvl=75, cnt=9)
    assert remediation.advise(group, AZURE, namespace=NAMESPACE_7200) == {
        "service": "host sysctl",
        "where": "the network namespace's sysctls: the tcp_keepalive role or keepalive_sysctl",
        "knob": "net.ipv4.tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes",
        "set": "net.ipv4.tcp_keepalive_time = 210; net.ipv4.tcp_keepalive_intvl = 10; "
        "net.ipv4.tcp_keepalive_probes = 3",
        "doc": "https://docs.kernel.org/networking/ip-sysctl.html",
        "why": "the group turns SO_KEEPALIVE on and takes every value from its namespace's sysctls",
    }
    # Its own values (not the namespace's): the program sets them, the runtime advice.
    own = row("app.service", "myserver", idle=7000, intvl=75, cnt=9)
    assert remediation.advise(own, AZURE, namespace=NAMESPACE_7200)["service"] == "other program"


def test_container_namespace_asks_the_container_advisor():
    seen = []

    def container_advice(owner, values):
        seen.append((owner, values))
        return {key: "container" for key in remediation.ADVICE_KEYS}

    owner = {"runtime": "docker", "id": "ab" * 32}
    namespace = dict(NAMESPACE_7200, owner=owner)
    group = row(None, "myserver", idle=7200, intvl=75, cnt=9)
    advice = remediation.advise(
        group, AZURE, namespace=namespace, container_advice=container_advice
    )
    assert advice["service"] == "container"
    assert seen == [(owner, {"time": 210, "intvl": 10, "probes": 3})]
    # A known service inside a container: its own knob still decides its sockets.
    redis = row(None, "redis-server")
    assert (
        remediation.advise(redis, AZURE, namespace=namespace, container_advice=container_advice)[
            "service"
        ]
        == "redis"
    )
    # The container advisor has nothing to say: the sysctl advice for that namespace.
    none = remediation.advise(group, AZURE, namespace=namespace, container_advice=lambda o, v: None)
    assert none["service"] == "host sysctl"
    # A program in the container that sets its own TCP_KEEPIDLE: no namespace sysctl fixes it.
    own = row(None, "myserver", idle=7000, intvl=75, cnt=9)
    advice = remediation.advise(own, AZURE, namespace=namespace, container_advice=container_advice)
    assert advice["service"] == "other program"


def test_no_advice_when_nothing_passes_the_path():
    tiny = [{"name": "tiny", "idle_timeout": 5, "layer": 4}]
    assert remediation.advise(row(None, "redis-server"), tiny) is None


def test_heartbeat_interval_counts_every_box():
    assert remediation.heartbeat_interval(AZURE) == 80
    assert remediation.heartbeat_interval(["aws_alb", "aws_nat_gateway"]) == 20  # ALB 60 s
    assert remediation.heartbeat_interval(AZURE, "latency_sensitive") == 10  # detect_within 30
    assert remediation.heartbeat_interval([]) is None

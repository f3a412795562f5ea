"""Real Debian services on loopback for the keepalive adoption audit (test harness).

``ServiceStack`` starts sshd (twice: TCPKeepAlive yes/no), redis-server (tcp-keepalive 60,
3600, 0), PostgreSQL (tcp_keepalives 45/15/4), nginx (``so_keepalive=30:10:3`` on IPv4 and
IPv6, and one without), a plain Python server, and inside a network namespace of its own
with non-default sysctls (300/30/5) a server that only sets SO_KEEPALIVE and a redis-server
with tcp-keepalive 7200. Each runs in a cgroup v2 directory shaped like
a systemd unit, with real clients holding idle connections; ``close()`` removes every process,
cgroup, namespace and file, and ``leftovers()`` proves it. Needs root, cgroup v2 and the
Debian packages openssh-server, redis-server, postgresql, nginx, iproute2.
"""

from ._cgroup import CgroupError
from ._launch import ServiceError
from ._model import OFF, Keepalive, Service, Sysctls
from ._stack import CLIENT_SCOPE, NETNS_SYSCTLS, ServiceStack

__all__ = [
    "CLIENT_SCOPE",
    "NETNS_SYSCTLS",
    "OFF",
    "CgroupError",
    "Keepalive",
    "Service",
    "ServiceError",
    "ServiceStack",
    "Sysctls",
]

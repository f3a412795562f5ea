"""Hash proofs that a run changed nothing on a lab host.

``host_state`` covers everything keepalive_sysctl could touch: every entry of every sysctl.d
directory (name, type, mode, link target, content hash of regular files: FIFOs and other
special files are listed, never opened), ``/etc/sysctl.conf``, and the runtime values of the
keepalive sysctls and ``tcp_retries2`` of the host's network namespace.
"""

from __future__ import annotations

import contextlib
import hashlib

BOOT_PLACES = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
    "/etc/sysctl.conf",
)
RUNTIME_KEYS = (
    "tcp_keepalive_time",
    "tcp_keepalive_intvl",
    "tcp_keepalive_probes",
    "tcp_retries2",
)

_STATE_SCRIPT = (
    "for p in %(places)s; do "
    '[ -e "$p" ] || [ -L "$p" ] || { echo "$p absent"; continue; }; '
    "find \"$p\" -maxdepth 1 -printf '%%p %%y %%m %%l %%s\\n' | LC_ALL=C sort; "
    'find "$p" -maxdepth 1 -type f -exec sha256sum {} + | LC_ALL=C sort; '
    "done; cd /proc/sys/net/ipv4 && grep -H . %(keys)s"
) % {"places": " ".join(BOOT_PLACES), "keys": " ".join(RUNTIME_KEYS)}


def host_state(lab, host):
    """A text describing every file and value a keepalive module could change on ``host``."""
    return lab.run(host, _STATE_SCRIPT, check=True).stdout


def host_hash(lab, host):
    return hashlib.sha256(host_state(lab, host).encode()).hexdigest()


@contextlib.contextmanager
def unchanged(lab, hosts):
    """Assert on exit that none of ``hosts`` changed (the diff of the first that did)."""
    before = {host: host_state(lab, host) for host in hosts}
    yield
    for host in hosts:
        after = host_state(lab, host)
        assert after == before[host], "%s changed:\n--- before\n%s\n--- after\n%s" % (
            host,
            before[host],
            after,
        )

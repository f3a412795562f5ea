#!/usr/bin/env python
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stateful router/firewall between lab hosts: a real kernel NAT that forgets idle flows.

The router is one more network namespace, ``<prefix>-r<i>``, joined by a veth to each
*inside* host (interface ``nat<i>`` in the host, one /24 each) and by one veth to the
*outside* host (the peer). It forwards with conntrack and nftables:

- ``ct state established,related`` accepted, a new SYN accepted from inside only;
- ``nf_conntrack_tcp_loose=0`` and ``ct state invalid drop``: once conntrack has forgotten an
  idle flow (``nf_conntrack_tcp_timeout_established``, set per router), the flow's next
  segment is invalid and dropped, in both directions, as a cloud NAT does;
- ``reset=True``: such a segment gets a TCP RST back instead (what Azure Firewall does);
- ``masquerade=True``: inside addresses are rewritten to the router's outside address.

Addresses live only in the hosts' and the router's namespaces (198.18.0.0/15, the range
RFC 2544 keeps for benchmarks), so they never collide with the machine's routes. Router
``i`` uses ``198.18.<16 i>.0/24`` outside (router ``.1``, peer ``.2``) and
``198.18.<16 i + j>.0/24`` for its ``j``-th inside host (router ``.1``, host ``.2``).

    from router import Router
    with Router(lab, inside=["nk-h1"], outside="nk-h2", established_timeout=15) as nat:
        nat.peer_address            # where inside hosts connect to
        nat.set_timeout(8)          # per router namespace, takes effect at the next packet
        nat.counters()              # {"invalid_dropped": n, "invalid_reset": n, ...}
        nat.popen([...])            # a process in the router's namespace (a proxy)

``close()`` (also on ``with`` exit and on any failure while building) removes the processes,
veths and the namespace; ``Lab.down`` removes a router left behind by a crash. See README.md.
"""

from __future__ import annotations

import contextlib
import re
import subprocess

from lab import LabError, _ip_batch, _netns_names, _run

TABLE = "lab_router"
MAX_ROUTERS = 15
MAX_INSIDE = 15
COUNTERS = ("invalid_dropped", "invalid_reset", "forwarded_new", "refused_new")

RULES = """
table inet %(table)s {
  counter invalid_dropped {}
  counter invalid_reset {}
  counter forwarded_new {}
  counter refused_new {}
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    %(reset_rule)s
    ct state invalid counter name "invalid_dropped" drop
    iifname "in*" oifname "outside" tcp flags & (syn | ack | fin | rst) == syn ct state new \
counter name "forwarded_new" accept
    iifname "in*" oifname "outside" meta l4proto icmp accept
    counter name "refused_new" drop
  }
}
"""
# A forgotten flow's segment that is not itself a RST gets one back (never answer a RST).
RESET_RULE = (
    'meta l4proto tcp ct state invalid tcp flags & rst == 0 counter name "invalid_reset" '
    "reject with tcp reset"
)
NAT_RULES = """
table ip %(table)s_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "outside" masquerade
  }
}
"""


class Router:
    """A router namespace between ``inside`` hosts and the ``outside`` host; see above."""

    def __init__(
        self,
        lab,
        inside,
        outside,
        established_timeout=15,
        index=1,
        reset=False,
        masquerade=False,
    ):
        if not 1 <= index <= MAX_ROUTERS:
            raise LabError("index=%r: give 1 to %d" % (index, MAX_ROUTERS))
        if not 1 <= len(inside) <= MAX_INSIDE:
            raise LabError("inside=%r: give 1 to %d hosts" % (inside, MAX_INSIDE))
        if outside in inside:
            raise LabError("host %s cannot be inside and outside the same router" % outside)
        self.lab = lab
        self.index = index
        self.inside = [lab.host(name) for name in inside]
        self.outside = lab.host(outside)
        self.netns = "%s-r%d" % (lab.prefix, index)
        self.interface = "nat%d" % index  # the hosts' side of each veth
        self.reset = reset
        self.masquerade = masquerade
        self._procs = []
        if self.netns in _netns_names():
            raise LabError("namespace %s exists already: a router %d is up" % (self.netns, index))
        try:
            self._build(established_timeout)
        except BaseException:
            self.close()
            raise

    # -- addresses ---------------------------------------------------------------------

    def _subnet(self, slot):
        number = 16 * self.index + slot  # 16..255: fits the third octet of 198.18.0.0/16
        return "198.18.%d" % number

    @property
    def peer_address(self):
        """The outside host's address on the router's outside segment."""
        return self._subnet(0) + ".2"

    @property
    def outside_address(self):
        """The router's own outside address (what the peer sees with masquerade)."""
        return self._subnet(0) + ".1"

    def host_address(self, name):
        """An inside host's address on its segment to the router."""
        return self._subnet(self._slot(name)) + ".2"

    def gateway(self, name):
        """The router's address on an inside host's segment (a proxy listens there)."""
        return self._subnet(self._slot(name)) + ".1"

    def _slot(self, name):
        for slot, host in enumerate(self.inside, start=1):
            if host.name == name:
                return slot
        raise LabError("%s is not inside router %s" % (name, self.netns))

    # -- building ----------------------------------------------------------------------

    def _build(self, established_timeout):
        _run(["ip", "netns", "add", self.netns])
        _ip_batch(["link set lo up"], netns=self.netns)
        outside_net = self._subnet(0)
        inside_nets = [self._subnet(slot) for slot in range(1, len(self.inside) + 1)]
        self._link("outside", self.outside, outside_net)
        for slot, host in enumerate(self.inside, start=1):
            self._link("in%d" % slot, host, self._subnet(slot))
            _ip_batch(
                ["route add %s.0/24 via %s.1" % (outside_net, self._subnet(slot))],
                netns=host.netns,
            )
        if not self.masquerade:  # the peer must route replies back through the router
            _ip_batch(
                ["route add %s.0/24 via %s.1" % (net, outside_net) for net in inside_nets],
                netns=self.outside.netns,
            )
        self.sysctl("net.ipv4.ip_forward", 1)
        self.sysctl("net.netfilter.nf_conntrack_tcp_loose", 0)
        self.set_timeout(established_timeout)
        self._load_rules()

    def _link(self, name, host, subnet):
        """A veth made with both ends already in their namespaces (no name in the machine's)."""
        veth = "link add %s type veth peer name %s netns %s" % (name, self.interface, host.netns)
        _run(["ip", "-n", self.netns] + veth.split())
        _ip_batch(["addr add %s.1/24 dev %s" % (subnet, name), "link set %s up" % name], self.netns)
        _ip_batch(
            [
                "addr add %s.2/24 dev %s" % (subnet, self.interface),
                "link set %s up" % self.interface,
            ],
            netns=host.netns,
        )

    def _load_rules(self):
        ruleset = RULES % {"table": TABLE, "reset_rule": RESET_RULE if self.reset else ""}
        if self.masquerade:
            ruleset += NAT_RULES % {"table": TABLE}
        self._nft(["-f", "-"], ruleset)

    def _nft(self, args, text=None):
        return _run(["ip", "netns", "exec", self.netns, "nft"] + args, input=text).stdout

    # -- knobs and readings --------------------------------------------------------------

    def sysctl(self, name, value):
        _run(["ip", "netns", "exec", self.netns, "sysctl", "-q", "-w", "%s=%s" % (name, value)])

    def set_timeout(self, seconds):
        """How long conntrack keeps an idle established flow (this router's namespace only)."""
        self.sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", int(seconds))
        self.established_timeout = int(seconds)

    def set_reset(self, reset):
        """Switch between dropping a forgotten flow's segments and answering them with RST."""
        self.reset = bool(reset)
        self._nft(["flush", "ruleset"])
        self._load_rules()

    def counters(self):
        """Packets counted by each named counter of the ruleset."""
        found = {}
        for name in COUNTERS:
            out = self._nft(["list", "counter", "inet", TABLE, name])
            match = re.search(r"packets (\d+)", out)
            found[name] = int(match.group(1)) if match else 0
        return found

    def flows(self):
        """Established TCP flows conntrack remembers now, as ``(src, sport, dst, dport)``."""
        argv = ["ip", "netns", "exec", self.netns, "cat", "/proc/net/nf_conntrack"]
        out = _run(argv, check=False).stdout
        flows = []
        for line in out.splitlines():
            if " tcp " not in line or "ESTABLISHED" not in line:
                continue
            fields = {}
            for word in line.split():  # the original direction comes first, then the reply
                if "=" in word:
                    key, value = word.split("=", 1)
                    fields.setdefault(key, value)
            flows.append((fields["src"], fields["sport"], fields["dst"], fields["dport"]))
        return flows

    def popen(self, argv, **kwargs):
        """Start a process in the router's namespace; ``close()`` kills it."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns] + list(argv), **kwargs)
        self._procs.append(proc)
        return proc

    # -- teardown ------------------------------------------------------------------------

    def close(self):
        """Kill the router's processes, delete its veths (inside hosts lose ``nat<i>``) and
        its namespace. Safe to call twice."""
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._procs = []
        remove_router(self.netns)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def remove_router(netns):
    """Delete a router namespace and its veths (their other ends go with them)."""
    if netns not in _netns_names():
        return
    out = _run(["ip", "-n", netns, "-o", "link", "show"], check=False).stdout
    links = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    commands = ["link del %s" % name for name in links if name != "lo"]
    if commands:
        _run(["ip", "-n", netns, "-force", "-batch", "-"], check=False, input="\n".join(commands))
    _run(["ip", "netns", "del", netns], check=False)

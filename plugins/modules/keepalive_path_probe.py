#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keepalive_path_probe
short_description: Measure the idle timeout of the network path between two hosts
version_added: 1.1.0
description:
  - Measures how long the path from this host to a peer keeps an idle TCP connection,
    instead of trusting a table - a NAT gateway, a firewall, a load balancer or a proxy on
    the way forgets or closes connections that stay idle longer than its timeout.
  - With O(role=listen) (on the peer, started with C(async) and C(poll=0)) it serves probe
    connections on O(port) for O(listen_for) seconds at most. With O(role=probe) (the
    default, on the host) it opens connections to the listener with keepalive off, keeps
    them idle for growing times, then sends data from both ends and sees what comes back.
    It bisects to O(resolution), opening O(parallel) connections at once, and never runs
    longer than O(max_duration). O(role=stop) ends a listener.
  - The result is the bracket RV(idle_timeout) (the path kept a connection idle for
    RV(idle_timeout.low) seconds, and forgot or closed one idle for RV(idle_timeout.high)),
    how the path ends a flow (RV(ends_flows_by) - a silent drop, a TCP reset or a FIN) and
    RV(path_override), an entry ready for the role's C(tcp_keepalive_path).
  - Traffic goes only to O(peer) and O(port). The listener answers only connections that
    carry its O(token). Every connection is closed on every exit (the end, an error, a
    timeout, SIGTERM); the listener ends on O(role=stop) or after O(listen_for).
  - Every option is checked before any traffic; the peer is then asked to prove it is the
    listener, so a port held by another service or an unreachable peer fails the task before
    any measured connection.
requirements:
  - Linux on both hosts (TCP_USER_TIMEOUT, TCP_KEEPIDLE)
  - Python 3.6 or later on the managed hosts (standard library only)
author:
  - netstack.keepalive contributors (@netstack)
extends_documentation_fragment:
  - netstack.keepalive.attributes.linux
  - netstack.keepalive.attributes.no_diff
  - ansible.builtin.action_common_attributes
options:
  role:
    description:
      - C(probe) measures from this host, C(listen) serves the probe on this host (the
        peer), C(stop) ends the listener on O(peer).
    type: str
    choices: [probe, listen, stop]
    default: probe
  peer:
    description:
      - The peer's address as this host reaches it (the address whose path is measured).
      - Required with O(role=probe) and O(role=stop).
    type: str
  port:
    description: The TCP port of the listener on the peer (1 to 65535); it must be free there.
    type: int
    required: true
  token:
    description:
      - A shared secret that pairs the probe with its listener; the listener refuses any
        connection without it. The playbook C(netstack.keepalive.probe_path) makes one.
    type: str
    required: true
  bind_address:
    description: The address the listener binds (O(role=listen)).
    type: str
    default: 0.0.0.0
  listen_for:
    description:
      - Seconds the listener lives at most (O(role=listen)). Default O(max_duration) + 30.
    type: int
  resolution:
    description:
      - Seconds; the probe stops when RV(idle_timeout.high) - RV(idle_timeout.low) is at
        most this. At most O(max_duration).
    type: int
    default: 10
  min_idle:
    description: The shortest idle time (seconds) the first round tries.
    type: int
    default: 5
  max_idle:
    description:
      - The longest idle time (seconds) tried; a path that keeps a connection this long is
        reported with RV(idle_timeout.high=null) and RV(stopped_by=max_idle).
      - One round to it, plus O(answer_within) and a start-up allowance, must fit in
        O(max_duration).
    type: int
    default: 900
  max_duration:
    description:
      - Hard bound in seconds of the whole measurement; a round that could pass it is not
        started (RV(stopped_by=max_duration)).
    type: int
    default: 1800
  parallel:
    description:
      - Connections open at once per round (1 to 32); more connections, fewer and shorter
        rounds (the first death in a round is closer to the timeout).
    type: int
    default: 8
  answer_within:
    description:
      - Seconds to wait for the data of both ends after an idle; a connection without an
        answer by then counts as silently dropped (its TCP_USER_TIMEOUT is set to this too).
    type: int
    default: 5
  connect_timeout:
    description: Seconds to connect to the listener and get its first answer.
    type: int
    default: 5
  name:
    description: The name of the box in RV(path_override).
    type: str
    default: measured-path
  verify_keepalive:
    description:
      - Keepalive values to prove after the measurement - one connection with SO_KEEPALIVE
        and these values is held idle past RV(idle_timeout.high) by O(resolution) seconds,
        then both ends send; RV(verify.kept) says whether the path kept it.
    type: dict
    suboptions:
      time:
        description: TCP_KEEPIDLE in seconds.
        type: int
        required: true
      intvl:
        description: TCP_KEEPINTVL in seconds.
        type: int
        required: true
      probes:
        description: TCP_KEEPCNT.
        type: int
        required: true
attributes:
  check_mode:
    support: full
    details: In check mode the probe returns RV(plan) and sends nothing; the listener does
      not listen.
  idempotent:
    description: It changes nothing on either host; it reports C(changed=false).
    support: full
notes:
  - A measurement costs time, not bandwidth - about the timeout itself for each of a few
    rounds, and a handful of bytes per connection. RV(plan) gives the worst case.
  - The bracket is of the path as it behaves now; a box whose timeout depends on load or on
    the number of flows may differ later. Keep the role's margin.
  - Use the playbook C(netstack.keepalive.probe_path), which starts and always stops the
    listener.
seealso:
  - module: netstack.keepalive.keepalive_sockets_info
"""

EXAMPLES = r"""
- name: Start the listener on the peer for at most 10 minutes
  netstack.keepalive.keepalive_path_probe:
    role: listen
    port: 47001
    token: "{{ probe_token }}"
    listen_for: 600
  delegate_to: db1
  async: 660
  poll: 0

- name: Measure the path to the peer to 5 s
  netstack.keepalive.keepalive_path_probe:
    peer: 10.0.2.15
    port: 47001
    token: "{{ probe_token }}"
    resolution: 5
    max_idle: 400
    max_duration: 540
    verify_keepalive: {time: 120, intvl: 10, probes: 3}
  register: measured

- name: Stop the listener
  netstack.keepalive.keepalive_path_probe:
    role: stop
    peer: 10.0.2.15
    port: 47001
    token: "{{ probe_token }}"

- name: Show the override for tcp_keepalive_path
  ansible.builtin.debug:
    var: measured.path_override
"""

RETURN = r"""
idle_timeout:
  description: The bracket of the path's idle timeout in seconds.
  returned: with O(role=probe), not in check mode
  type: dict
  contains:
    low:
      description: The longest idle a connection survived (0 when none did).
      type: float
    high:
      description: The shortest idle after which one died; null when none died.
      type: float
  sample: {low: 347, high: 352}
ends_flows_by:
  description: How the path ended the first flow it forgot - C(silent_drop), C(reset) or
    C(fin); null when none died.
  returned: with O(role=probe), not in check mode
  type: str
  sample: silent_drop
path_override:
  description:
    - An entry for the role's C(tcp_keepalive_path) - the longest idle that survived as
      C(idle_timeout), layer 7 when the path closed flows with a FIN (a proxy), else 4.
    - Null when no connection died or none survived.
  returned: with O(role=probe), not in check mode
  type: dict
  sample:
    name: measured-path
    idle_timeout: 347
    layer: 4
    description: "measured by keepalive_path_probe: idle timeout in (347, 352] s, ends flows
      by silent_drop"
rounds:
  description: Each round's connections - C(idle) (s), C(outcome) (C(alive), C(silent_drop),
    C(reset), C(fin), C(aborted) when a shorter one died), C(elapsed) and C(closed_after)
    (seconds of idleness when the path closed it before it resumed).
  returned: with O(role=probe), not in check mode
  type: list
  elements: list
  sample: [[{idle: 9, outcome: silent_drop, elapsed: 14.0}]]
connections:
  description: How many measured connections were opened.
  returned: with O(role=probe), not in check mode
  type: int
  sample: 12
stopped_by:
  description: Why the probe stopped - C(resolution), C(max_idle) or C(max_duration).
  returned: with O(role=probe), not in check mode
  type: str
  sample: resolution
verify:
  description: The held connection of O(verify_keepalive).
  returned: with O(verify_keepalive), when a connection died
  type: dict
  contains:
    idle:
      description: Seconds it was held idle (RV(idle_timeout.high) + O(resolution), rounded up).
      type: int
    outcome:
      description: As in RV(rounds); null when it was skipped.
      type: str
    kept:
      description: Whether the path kept it (null when it was skipped).
      type: bool
    keepalive:
      description: The values it was held with (O(verify_keepalive)).
      type: dict
    skipped:
      description: Why it was not held (no time left within O(max_duration)).
      type: str
      returned: when skipped
  sample: {idle: 362, outcome: alive, kept: true, keepalive: {time: 120, intvl: 10, probes: 3}}
plan:
  description: The worst case without traffic - C(rounds) (idle times), C(worst_case_seconds),
    C(max_duration), C(connections_at_once), C(peer), C(port).
  returned: with O(role=probe)
  type: dict
  sample: {rounds: [[5, 47, 437, 900]], worst_case_seconds: 907, max_duration: 1800}
duration:
  description: Seconds the probe or the listener ran.
  returned: with O(role=probe) or O(role=listen), not in check mode
  type: float
  sample: 61.2
served:
  description: Measured connections the listener served.
  returned: with O(role=listen), not in check mode
  type: int
  sample: 12
refused:
  description: Connections the listener refused (no or another token).
  returned: with O(role=listen), not in check mode
  type: int
  sample: 0
listen_for:
  description: Seconds the listener lives at most.
  returned: with O(role=listen)
  type: int
  sample: 630
listening:
  description: False in check mode, where the listener does not listen.
  returned: with O(role=listen) in check mode
  type: bool
  sample: false
stopped:
  description: Whether a listener answered the stop (false when it was already gone).
  returned: with O(role=stop)
  type: bool
  sample: true
"""

import signal  # noqa: E402

# Ansible modules keep their imports after the documentation blocks.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (  # noqa: E402
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._probe._path_probe import (  # noqa: E402
    module_kwargs,
    run,
)


def _terminated(signum, frame):
    # The rounds close their connections in ``finally``: let them run on SIGTERM too.
    raise KeepaliveError("stopped by signal %d; every connection was closed" % signum)


def main():
    module = AnsibleModule(**module_kwargs())
    signal.signal(signal.SIGTERM, _terminated)
    try:
        result = run(module.params, check_mode=module.check_mode)
    except KeepaliveError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

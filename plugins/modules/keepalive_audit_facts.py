#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keepalive_audit_facts
short_description: Everything an audit reads from a host, in one call
version_added: 1.1.0
description:
  - Reads, in one module call (one round trip per host), what the audit of the role
    C(netstack.keepalive.tcp_keepalive) needs from a host - the runtime keepalive sysctls,
    the boot model (boot values with C(file:line), the files that shadow ours) and the
    adoption audit of the sockets - and changes nothing.
  - O(sysctl) takes the options of M(netstack.keepalive.keepalive_sysctl) and runs it in
    check mode with its own code - first as the preflight (whether the host can take the
    values at all, shadowing ignored), then as the apply step with the C(on_shadowed) given
    in O(sysctl) (only when a file shadows ours, since C(on_shadowed) acts on nothing else). The
    result is RV(sysctl), exactly what that module returns in check mode, or
    RV(sysctl_error) when the apply step would fail.
  - O(sockets) takes the options of M(netstack.keepalive.keepalive_sockets_info) that choose
    what is read, and returns what that module reads as RV(sockets) - its result without the
    heartbeats and verdicts. The action M(netstack.keepalive.keepalive_audit) judges them on
    the controller with that module's own checks, so the host compiles none of them (a module's
    code is compiled from source on every host at every run).
  - A preflight that fails (for example a network namespace that does not exist, a value out
    of range) fails the task with that module's message and C(stage=preflight), before the
    sockets are read. A socket audit that fails fails the task with C(stage=sockets).
  - The rollout keeps using the two modules step by step; this module is for audits.
requirements:
  - Linux with C(/proc), C(/proc/sys/net/ipv4) and C(NETLINK_SOCK_DIAG) (C(inet_diag))
  - Python 3.6 or later on the managed host (standard library only)
  - root for exact per-socket values (see M(netstack.keepalive.keepalive_sockets_info))
author:
  - netstack.keepalive contributors (@netstack)
extends_documentation_fragment:
  # Order matters: for a key set twice, the module's own wins, then the earlier fragment.
  - netstack.keepalive.attributes.linux
  - netstack.keepalive.attributes.no_diff
  - ansible.builtin.action_common_attributes
options:
  sysctl:
    description:
      - The options of M(netstack.keepalive.keepalive_sysctl) (C(tcp_keepalive_time),
        C(tcp_keepalive_intvl), C(tcp_keepalive_probes), C(tcp_retries2), C(state),
        C(apply), C(persist), C(path), C(mode), C(restore_runtime), C(on_shadowed),
        C(netns)), with its defaults and checks (a bad one fails the task naming it, with
        C(stage=preflight)). It runs in check mode only.
      - Null (the default) leaves the sysctl part out.
    type: dict
  sockets:
    description:
      - The gathering options of M(netstack.keepalive.keepalive_sockets_info) (C(states),
        C(netns), C(details), C(units), C(ports), C(keepalive), C(limit), C(exact)), with its
        defaults and checks, and two of its own, booleans that default to false -
        C(crossing) (also count the sockets that cross the network path, which the path
        verdicts judge, as RV(sockets.crossing)) and C(sshd) (when sshd may hold sockets,
        read its effective ClientAlive heartbeat with C(sshd -T) as RV(sockets.sshd), for
        heartbeat-aware verdicts). A bad one fails the task naming it, with
        C(stage=sockets).
      - Null (the default) leaves the socket audit out.
    type: dict
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  idempotent:
    description: It only reads; running it again changes nothing and reports C(changed=false).
    support: full
notes:
  - The options of each part are those of its module; see their documentation for what
    each means (C(ansible-doc netstack.keepalive.keepalive_sysctl),
    C(ansible-doc netstack.keepalive.keepalive_sockets_info)).
seealso:
  - module: netstack.keepalive.keepalive_sysctl
  - module: netstack.keepalive.keepalive_sockets_info
"""

EXAMPLES = r"""
- name: Audit a host in one round trip (values, boot model, adoption)
  netstack.keepalive.keepalive_audit_facts:
    sysctl:
      tcp_keepalive_time: 180
      tcp_keepalive_intvl: 20
      tcp_keepalive_probes: 3
      on_shadowed: warn
    sockets:
      crossing: true
      sshd: true
  become: true
  register: audit

- name: What a reboot would give, and how many sockets cross the path without keepalive
  ansible.builtin.debug:
    msg: >-
      {{ audit.sysctl.boot_values }};
      {{ audit.sockets.crossing | rejectattr('keepalive') | map(attribute='count') | sum }}
  when: audit.sysctl is defined
"""

RETURN = r"""
sysctl:
  description:
    - The result of M(netstack.keepalive.keepalive_sysctl) in check mode with O(sysctl)
      (C(before), C(after), C(boot_values), C(shadowed_by), C(file), C(changed), ...; see
      that module's return values).
  returned: when O(sysctl) is given and the apply step would not fail
  type: dict
  sample:
    before: {tcp_keepalive_time: 7200, tcp_keepalive_intvl: 75, tcp_keepalive_probes: 9}
    after: {tcp_keepalive_time: 180, tcp_keepalive_intvl: 20, tcp_keepalive_probes: 3}
    changed: true
sysctl_error:
  description: Why keepalive_sysctl would fail with O(sysctl) (for example a file that
    shadows ours and C(on_shadowed=fail)); the preflight passed.
  returned: when O(sysctl) is given and the apply step would fail
  type: str
  sample: "/etc/sysctl.conf:3 sets net.ipv4.tcp_keepalive_time=600 and is applied after our
    file at boot"
sockets:
  description:
    - What M(netstack.keepalive.keepalive_sockets_info) reads with O(sockets) (C(summary),
      C(namespaces), C(degraded), C(socket_count), C(elapsed), the socket rows when asked;
      see that module's return values), and what its checks read besides.
  returned: when O(sockets) is given
  type: dict
  contains:
    crossing:
      description: The summary rows of the sockets that cross the network path.
      returned: when C(crossing) is true in O(sockets)
      type: list
      elements: dict
    unfiltered:
      description: The summary rows before the filters (C(units), C(ports), C(keepalive)).
      returned: when a filter or C(details) is given in O(sockets)
      type: list
      elements: dict
    sshd:
      description:
        - C(settings) (sshd's C(clientaliveinterval), C(clientalivecountmax),
          C(tcpkeepalive)) or C(reason) (why they were not read). Null when no socket may be
          sshd's.
      returned: when C(sshd) is true in O(sockets)
      type: dict
  sample:
    summary: []
    namespaces: {}
    degraded: []
    socket_count: 0
    crossing: []
    sshd: null
"""

# Ansible modules keep their imports after the documentation blocks.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.netstack.keepalive.plugins.module_utils._audit._audit_facts import (  # noqa: E402
    audit,
    module_kwargs,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (  # noqa: E402
    KeepaliveError,
)

# Where the filesystem is; unit tests point it at a fake tree.
ROOT = "/"


def main():
    module = AnsibleModule(**module_kwargs())
    try:
        result, warnings = audit(module.params, want_diff=module._diff, root=ROOT)
    except KeepaliveError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

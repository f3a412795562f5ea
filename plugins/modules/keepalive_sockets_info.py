#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keepalive_sockets_info
short_description: Prove which services really use TCP keepalive, with which values
version_added: 1.0.0
description:
  - Tuning the keepalive sysctls does nothing for a socket without C(SO_KEEPALIVE), and a
    socket's own C(TCP_KEEPIDLE)/C(TCP_KEEPINTVL)/C(TCP_KEEPCNT) override them. This module
    tells, for a running host, which processes and units hold TCP sockets, which have
    keepalive on, with which effective values, in which network namespace.
  - Enumerates TCP sockets (IPv4 and IPv6) with netlink C(inet_diag) in B(every network
    namespace) of the host (those of processes and those under C(/run/netns)), each compared
    with its own namespace's sysctls (RV(namespaces)).
  - Attributes sockets to pid, command and systemd unit (last C(*.service)/C(*.scope) of the
    cgroup v2 path, else the path; from the socket's cgroup id when no owner is visible).
  - Reads the exact values with C(pidfd_getfd) + C(getsockopt) on a duplicate that is never
    read or written and closed at once (C(source=getsockopt)). Where that is refused it falls
    back to the kernel timer (C(source=timer)) - an idle established socket with the
    keepalive timer armed has C(SO_KEEPALIVE), one with no timer has not; anything else is
    C(null) (cannot tell), never a guess.
  - Reads C(TCP_USER_TIMEOUT) in the same pass. With data in flight a connection ignores
    keepalive and waits for C(net.ipv4.tcp_retries2) retransmissions (reported per namespace)
    unless the application set a user timeout, which bounds retransmissions and probes alike.
  - Counts the sockets waiting for an unanswering peer B(right now) - retransmitting
    unacknowledged data or sending unanswered keepalive / zero-window probes - from the
    kernel's C(tcp_info) in the same netlink dump.
  - Returns a RV(summary) by default; per-socket rows (RV(sockets)) only with O(details) or
    a filter, because 100,000 sockets make tens of megabytes of JSON.
  - Optional checks, returned as RV(verdicts) - O(require) (services that must have
    keepalive on) and O(path) (each group's effective idle against the middleboxes).
  - With O(path), each group's effective idle is checked against every layer-4 box, with
    the C(margin) of O(profile); keepalive off behind such a box fails. Only established
    connections to a remote peer are checked - listeners carry no traffic (their accepted
    connections are checked instead), and a connection to a loopback address never crosses
    a middlebox.
  - With O(path), each of those groups also gets a C(busy_detection) verdict - when its
    sockets notice a dead peer with data in flight (keepalive does not probe then) - judged
    like the host-level C(busy_detection) of the policy.
  - Attributes every network namespace to its B(owner) - a Docker, containerd, CRI-O or
    Podman container, a Kubernetes pod, an ECS task - from the cgroup paths of the
    processes in it (C(docker-<id>.scope), C(cri-containerd-<id>.scope),
    C(crio-<id>.scope), C(libpod-<id>.scope), C(kubepods...-pod<uid>.slice), the cgroupfs
    forms C(/docker/<id>) and C(/kubepods/.../pod<uid>/<id>); cgroup v2 and v1). A new
    namespace starts from the kernel defaults (7200/75/9) and the host's sysctl never
    reaches it, so with O(path) or O(profile) each container namespace gets a
    C(container_namespace) verdict, judged like the host's values, with the runtime's own
    setting as C(advice) (the pod's C(securityContext.sysctls), C(docker run --sysctl),
    C(podman run --sysctl), C(nerdctl run --sysctl), ECS C(systemControls)).
requirements:
  - Linux with C(/proc) and the C(NETLINK_SOCK_DIAG) netlink family (C(inet_diag))
  - Python 3.6 or later on the managed host (standard library only)
  - root for exact per-socket values; Linux 5.6 or later (C(pidfd_getfd)) for them, otherwise
    the keepalive timer is read and RV(degraded) says why
  - cgroup v2 for systemd unit names
author:
  - netstack.keepalive contributors (@netstack)
extends_documentation_fragment:
  # Order matters: for a key set twice, the module's own wins, then the earlier fragment.
  - netstack.keepalive.attributes.linux
  - netstack.keepalive.attributes.no_diff
  - netstack.keepalive.policy
  - netstack.keepalive.policy.profile
  - ansible.builtin.action_common_attributes
options:
  states:
    description:
      - TCP states to audit (at least one); the kernel applies the filter.
    type: list
    elements: str
    choices: [close, close_wait, closing, established, fin_wait1, fin_wait2, last_ack,
              listen, new_syn_recv, syn_recv, syn_sent, time_wait]
    default: [established, listen]
  netns:
    description:
      - Network namespaces to audit - names of C(ip netns list) or paths such as
        C(/proc/PID/ns/net). Empty (the default) audits every namespace of the host.
      - A namespace given here that does not exist, is not a network namespace or cannot be
        entered is an error (in the default audit of every namespace, such a namespace is
        skipped and named in RV(degraded)).
    type: list
    elements: str
    default: []
  details:
    description:
      - Return one row per socket in RV(sockets).
    type: bool
    default: false
  units:
    description:
      - Only sockets whose unit or command name matches one of these shell patterns
        (C(nginx.service), C(redis*)). Implies per-socket rows.
    type: list
    elements: str
  ports:
    description:
      - Only sockets whose local or remote port is one of these. Implies per-socket rows.
    type: list
    elements: int
  keepalive:
    description:
      - Only sockets with keepalive C(enabled) or C(disabled); sockets whose state cannot be
        told (C(null)) match neither. Implies per-socket rows.
    type: str
    choices: [enabled, disabled]
  limit:
    description:
      - At most this many rows in RV(sockets) (RV(truncated) says when rows were left out).
        Implies per-socket rows.
    type: int
  exact:
    description:
      - Read exact values with C(pidfd_getfd). V(false) uses the kernel timer only.
    type: bool
    default: true
  require:
    description:
      - Units or command names (shell patterns) that must have keepalive on. A string checks
        C(established) and C(listen) sockets; C({name, states}) chooses the states.
      - Many daemons (sshd, redis, PostgreSQL) set C(SO_KEEPALIVE) on each accepted
        connection and not on the listener; require C(states=[established]) for them.
      - C(states), when given, is a non-empty list of C(established) and/or C(listen).
      - A required name with no socket at all fails.
      - C({name, heartbeat}) (seconds) also declares the service's own heartbeat, as in
        O(heartbeats); its established sockets then pass without C(SO_KEEPALIVE).
      - Every option is checked before the scan; a bad one fails the task with a message
        naming the option, the value and what is allowed.
    type: list
    elements: raw
    default: []
  heartbeats:
    description:
      - Services that keep their connections open with an application heartbeat of their
        own, each C({name, heartbeat}) - a unit or command name (shell pattern) and the
        seconds between heartbeats (1..86400).
      - A heartbeat is data, so it resets every box on O(path), proxies included. A group of
        such a service is judged by its heartbeat against every box instead of by its
        C(SO_KEEPALIVE) (C(check=socket_idle)) - within the C(margin) before the smallest
        idle timeout passes, at or over a box's timeout fails naming the box and the
        interval to set - and it meets O(require) without C(SO_KEEPALIVE).
      - sshd's C(ClientAliveInterval) is read from the host (C(sshd -T)) when sshd holds
        sockets; a declared heartbeat comes first. An sshd started with another
        configuration file (C(-f)) needs its heartbeat declared here.
    type: list
    elements: raw
    default: []
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  idempotent:
    description: It only reads; running it again changes nothing and reports C(changed=false).
    support: full
notes:
  - Run as root (C(become=true)). Without root, or on kernels before 5.6 (no
    C(pidfd_getfd)), or where ptrace is refused, the module still runs and says so in
    RV(degraded); the affected sockets have C(source=timer).
  - C(getsockopt) returns the namespace sysctl when the application set no value, so only a
    value that differs from the namespace default proves the application set it
    (C(set_by_app)).
  - The duplicate socket is held for microseconds; a C(close) by the owner in that moment
    takes effect when the duplicate is closed.
  - The kernel treats a duplicate as a received socket and gives it the receiver's cgroup v1
    C(net_cls) class id and C(net_prio) index. Where either v1 controller is mounted (see
    C(/proc/cgroups)) that would reclassify the services' traffic, so the module does not
    duplicate there and reports the reason in RV(degraded) (C(source=timer)).
  - sshd's effective C(ClientAliveInterval), C(ClientAliveCountMax) and C(TCPKeepAlive) are
    read with C(sshd -T) (a fixed command line, 5 s timeout) when sshd holds sockets and
    O(require) or O(path) is given; it needs root. When sshd is missing or refuses,
    RV(degraded) says why and its sockets are judged by C(SO_KEEPALIVE).
  - A C(socket_idle) verdict that fails or warns carries C(advice) - the fix in the service's
    own configuration (redis C(tcp-keepalive), PostgreSQL C(tcp_keepalives_*), nginx
    C(so_keepalive=), sshd C(ClientAliveInterval), a language runtime's socket options, or
    the namespace's sysctls), with the value that passes on O(path). For a program with no
    known knob in a container's namespace it is the runtime's setting for that namespace.
  - A write into a container's namespace (M(netstack.keepalive.keepalive_sysctl) with its
    O(netstack.keepalive.keepalive_sysctl#module:netns)) vanishes with the container; the
    C(advice) of a container never is one.
  - The C(busy_detection) verdict of a group is the seconds until a connection with data in
    flight is dropped - from the group's C(user_timeout) when its sockets set
    C(TCP_USER_TIMEOUT), else from the C(tcp_retries2) of the group's namespace (the kernel
    default 15 when it could not be read; the message says which). With a C(detect_busy_within)
    in O(profile) it passes within it and fails over it; without, it warns only above 10
    times C(detect_within). Either way it warns when a network blip shorter than
    C(tolerate_outage) can drop a busy connection. A group with C(source=timer) warns (its
    user timeout cannot be read).
seealso:
  - module: netstack.keepalive.keepalive_sysctl
"""

EXAMPLES = r"""
- name: Which services use keepalive, per namespace (summary only)
  netstack.keepalive.keepalive_sockets_info:
  become: true
  register: adoption

- name: Services that must keep idle connections alive behind an AWS NAT gateway
  netstack.keepalive.keepalive_sockets_info:
    require:
      - nginx.service
      - name: sshd
        states: [established]
    path: [aws_nat_gateway]
    heartbeats:
      - {name: chat-gateway.service, heartbeat: 30}  # its WebSocket pings
  become: true
  register: adoption

- name: Fail the play on a failed verdict
  ansible.builtin.assert:
    that: adoption.verdict_summary.status != 'fail'
    fail_msg: "{{ adoption.verdict_summary.problems }}"

- name: Every socket on port 6379 without keepalive
  netstack.keepalive.keepalive_sockets_info:
    ports: [6379]
    keepalive: disabled
  become: true
"""

RETURN = r"""
summary:
  description:
    - Socket counts per namespace, unit, command, state and effective values.
    - C(keepalive) is true, false or null (timer cannot tell); C(idle), C(intvl), C(cnt) are
      the effective seconds/count (null when keepalive is off or the source is the timer);
      C(source) is C(getsockopt) or C(timer).
    - The owner of a row's namespace (a container or pod) is in RV(namespaces), under the
      row's C(netns).
    - C(user_timeout) is the socket's C(TCP_USER_TIMEOUT) in seconds (a float, 5000 ms is
      V(5.0)); null when the application set none (0, so C(tcp_retries2) and the keepalive
      values decide) B(or) when it could not be read (C(source=timer)). Rows are grouped by
      it like by C(idle)/C(intvl)/C(cnt).
    - C(count) is the number of sockets in the group; C(retransmitting) how many of them
      have unacknowledged data (or a SYN) whose retransmission timer expired with nothing
      acknowledged since (C(tcpi_retransmits) > 0), C(probing) how many others have keepalive or
      zero-window probes unanswered (C(tcpi_probes) > 0) - peers that are silent at this
      moment. Any segment from the peer resets both. Listeners and sockets the kernel gives
      no C(tcp_info) for (C(time_wait), C(new_syn_recv)) are never counted.
  returned: always
  type: list
  elements: dict
  sample:
    - {netns: "net:[4026531840]", unit: redis-server.service, comm: redis-server,
       state: established, keepalive: true, idle: 300, intvl: 100, cnt: 3,
       user_timeout: null, source: getsockopt, count: 12, retransmitting: 1, probing: 0}
namespaces:
  description:
    - Each audited network namespace by id (its C(/run/netns) name, else C(net:[INODE])) with
      its three keepalive sysctls, its C(tcp_retries2) (null when unreadable), its inode,
      names, whether the module runs in it (C(current)), the number of sockets found and,
      as in RV(summary), how many of them are C(retransmitting) or C(probing) now (counted
      over every audited socket of the namespace, whatever the filters).
    - C(owner) is the container, pod or ECS task whose processes are in the namespace,
      C({kind, runtime, id, short_id, pod_uid, task, containers, label}) - C(kind) V(container),
      V(pod) or V(task); C(runtime) V(docker), V(containerd), V(cri-o), V(podman) or null
      when the cgroup path does not name it (the cgroupfs driver of Kubernetes); C(id) the
      container id of the namespace's lowest pid, C(short_id) its first 12 digits;
      C(pod_uid) the Kubernetes pod UID; C(task) the ECS task id; C(containers) every
      container id seen in the namespace. Null for the namespace the module runs in, for
      PID 1's, and for one whose processes no runtime named.
  returned: always
  type: dict
  sample:
    "net:[4026531840]": {tcp_keepalive_time: 7200, tcp_keepalive_intvl: 75,
                         tcp_keepalive_probes: 9, tcp_retries2: 15, inode: 4026531840,
                         names: [], current: true, sockets: 42, retransmitting: 1,
                         probing: 0, owner: null}
    "net:[4026532712]": {tcp_keepalive_time: 7200, tcp_keepalive_intvl: 75,
                         tcp_keepalive_probes: 9, tcp_retries2: 15, inode: 4026532712,
                         names: [], current: false, sockets: 3, retransmitting: 0,
                         probing: 0, owner: {kind: container, runtime: docker,
                         id: 3f4e5d6c7b8a..., short_id: 3f4e5d6c7b8a, pod_uid: null,
                         task: null, containers: [3f4e5d6c7b8a...],
                         label: Docker container 3f4e5d6c7b8a}}
sockets:
  description:
    - One row per socket with C(netns, pid, comm, unit, state, local, remote, keepalive,
      idle, intvl, cnt, user_timeout, source, set_by_app, retransmits, probes, backoff,
      unacked, stall). C(pid) is the lowest pid holding it (null when no owner is visible).
      C(set_by_app) says, per value, whether it differs from the namespace default (null
      when keepalive is off or the source is the timer). C(user_timeout) as in RV(summary).
    - C(retransmits), C(probes), C(backoff), C(unacked) are the kernel's C(tcp_info) of the
      moment (C(tcpi_retransmits), C(tcpi_probes), C(tcpi_backoff), C(tcpi_unacked); for a
      listener C(unacked) is its accept queue), null where the kernel gives none
      (C(time_wait), C(new_syn_recv)). C(stall) is C(retransmitting), C(probing) or null,
      as counted in RV(summary).
  returned: when O(details) is true or O(units), O(ports), O(keepalive) or O(limit) is given
  type: list
  elements: dict
  sample:
    - {netns: "net:[4026531840]", pid: 812, comm: nginx, unit: nginx.service,
       state: listen, local: "0.0.0.0:80", remote: "0.0.0.0:0", keepalive: true,
       idle: 1800, intvl: 75, cnt: 10, user_timeout: null, source: getsockopt,
       set_by_app: {idle: true, intvl: false, cnt: true}, retransmits: 0, probes: 0,
       backoff: 0, unacked: 0, stall: null}
truncated:
  description: True when O(limit) left rows out of RV(sockets).
  returned: when RV(sockets) is returned
  type: bool
  sample: false
socket_count:
  description: Number of sockets that passed the filters.
  returned: always
  type: int
  sample: 42
degraded:
  description: Why parts of the answer come from the timer or are missing (empty when none).
  returned: always
  type: list
  elements: str
  sample:
    - "1 processes refused exact options (pidfd_getfd: Operation not permitted): their
      sockets use source timer"
verdicts:
  description:
    - Checks of O(require) (C(check=keepalive_required)) and O(path)
      (C(check=socket_idle) per group and layer-4 box, and C(check=busy_detection) per group),
      each C({check, subject, status, value, limit, message}).
    - A C(socket_idle) verdict that fails or warns has C(advice) too, C({service, where,
      knob, set, doc, why}) - the service, the file or place of the fix, the setting, the
      line that passes on O(path), its documentation and why it is the service's own knob.
    - A group kept open by a heartbeat (RV(heartbeats)) gets one C(socket_idle) per box on
      O(path), layer 7 included, with C(value) the heartbeat's interval.
    - With O(path) or O(profile), one C(check=container_namespace) per namespace a container
      or pod owns (RV(namespaces)), judged like the host's values; C(value) is its
      C(tcp_keepalive_time), C(limit) the one O(profile) wants on O(path), the message puts
      the host's values and the profile's beside its own, and one that does not pass has
      C(advice) - the runtime's own setting for every new namespace.
    - For C(busy_detection), C(value) is the seconds until a busy connection of the group is
      dropped and C(limit) the profile's C(detect_busy_within), 10 times C(detect_within)
      when that warns, or C(tolerate_outage) when a shorter blip drops it (null otherwise).
  returned: when O(require) or O(path) is given, or O(profile) and a container namespace
  type: list
  elements: dict
  sample:
    - {check: keepalive_required, subject: "sshd (established)", status: pass, value: 2,
       limit: 2, message: "all 2 established sockets of sshd have SO_KEEPALIVE on"}
    - {check: socket_idle, subject: "redis-server.service redis-server [net:[4026531840]]
       established (3 sockets) via azure_lb_standard", status: fail, value: 300, limit: 210,
       message: "...", advice: {service: redis, where: "redis.conf (/etc/redis/redis.conf), or
       CONFIG SET tcp-keepalive 210 at runtime", knob: tcp-keepalive, set: tcp-keepalive
       210, doc: "https://redis.io/docs/latest/operate/oss_and_stack/management/config-file/",
       why: "..."}}
    - {check: busy_detection, subject: "app.service app [net:[4026531840]] established (2
       sockets)", status: pass, value: 5.2, limit: 30, message: "app.service app
       [net:[4026531840]] established (2 sockets): with data in flight (keepalive does not
       probe), a dead peer is noticed after 5.2 s (the sockets' TCP_USER_TIMEOUT 5.0 s),
       within detect_busy_within 30 s"}
    - {check: container_namespace, subject: "Docker container 3f4e5d6c7b8a
       [net:[4026532712]]", status: fail, value: 7200, limit: 180, message: "Docker container
       3f4e5d6c7b8a [net:[4026532712]]: tcp_keepalive 7200/75/9 (the kernel defaults), the
       host 180/20/3, the profile wants 180/20/3: ...", advice: {service: Docker container
       3f4e5d6c7b8a, where: "the container's run options (docker run, compose sysctls:, an
       ECS task definition's systemControls)", knob: "net.ipv4.tcp_keepalive_time,
       tcp_keepalive_intvl, tcp_keepalive_probes", set: "docker run --sysctl
       net.ipv4.tcp_keepalive_time=180 --sysctl net.ipv4.tcp_keepalive_intvl=20 --sysctl
       net.ipv4.tcp_keepalive_probes=3 ...",
       doc: "https://docs.docker.com/reference/cli/docker/container/run/#sysctl",
       why: "..."}}
heartbeats:
  description:
    - The heartbeats the checks used - declared ones (O(heartbeats), O(require)) and
      sshd's read from C(sshd -T) - each C({name, interval, source, label}), sshd's with
      C(service), C(count_max) and C(tcp_keepalive).
  returned: when O(require) or O(path) is given
  type: list
  elements: dict
  sample:
    - {service: sshd, name: sshd, interval: 60, count_max: 3, tcp_keepalive: false,
       source: "sshd -T", label: "sshd's ClientAlive heartbeat"}
verdict_summary:
  description: Worst status, counts per status and the messages of failures and warnings.
  returned: when RV(verdicts) is returned
  type: dict
  sample: {status: pass, counts: {pass: 2, warn: 0, fail: 0}, total: 2, problems: []}
elapsed:
  description: Seconds the audit took on the host.
  returned: always
  type: float
  sample: 0.05
"""

# Ansible modules keep their imports after the documentation blocks.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._sockets_info import (  # noqa: E402
    module_kwargs,
    report,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (  # noqa: E402
    KeepaliveError,
)


def main():
    module = AnsibleModule(**module_kwargs())
    try:
        result = report(module.params)
    except KeepaliveError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

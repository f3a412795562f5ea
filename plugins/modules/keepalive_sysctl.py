#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keepalive_sysctl
short_description: Set, persist and prove the TCP keepalive sysctls of a network namespace
version_added: 1.0.0
description:
  - Sets C(net.ipv4.tcp_keepalive_time), C(net.ipv4.tcp_keepalive_intvl) and
    C(net.ipv4.tcp_keepalive_probes) in one call, at runtime (through C(/proc/sys), inside
    O(netns) when given) and in one file of ours under a C(sysctl.d) directory.
  - Optionally sets C(net.ipv4.tcp_retries2) (O(tcp_retries2)) the same way, with the same
    checks, boot model and undo. Keepalive never fires on a connection with unacknowledged
    data; such a connection notices a dead peer only when retransmissions give up, which
    C(tcp_retries2) decides.
  - Tells what the host will have after a reboot. It models the boot order of sysctl.d(5)
    and procps C(sysctl --system) (C(/etc/sysctl.d), C(/run/sysctl.d),
    C(/usr/local/lib/sysctl.d), C(/usr/lib/sysctl.d), C(/lib/sysctl.d); a file name masks
    the same name in later directories, a link to C(/dev/null) masks and sets nothing; files
    applied in byte order of their names, later wins; C(/etc/sysctl.conf) last) and returns
    the boot value of each key with the file and line it comes from, and every entry of
    another file that overrides ours at boot (RV(shadowed_by)).
  - Never edits other files and never runs C(sysctl) with user input. O(path) is written or
    removed only when it does not exist or starts with the module's managed-by header; a
    file of an admin or a package there is refused.
  - Every check happens before anything is written; on an error nothing is changed. If a
    runtime write fails half way, the values already written and our file are put back.
  - Runs on one host are serialised by an C(flock) on a lock file beside O(path)
    (C(.NAME.lock), which boot never reads, as it does not end in C(.conf)); a run plans again
    once it holds the lock, so what it reports is what it found and did. Temporary files of
    O(path) that a killed run left are removed (RV(leftovers_removed)).
requirements:
  - Linux, with C(/proc/sys/net/ipv4)
  - Python 3.6 or later on the managed host (standard library only)
  - root for every change (runtime values, files in C(sysctl.d)); C(CAP_SYS_ADMIN) for O(netns)
author:
  - netstack.keepalive contributors (@netstack)
extends_documentation_fragment:
  # Order matters: for a key set twice, the module's own wins, then the earlier fragment.
  - netstack.keepalive.attributes.linux
  - ansible.builtin.action_common_attributes
options:
  tcp_keepalive_time:
    description:
      - Seconds a connection is idle before the first keepalive probe
        (C(net.ipv4.tcp_keepalive_time)). A whole number in 1..32767; strings of digits
        are accepted, booleans and fractions are not.
      - At least one of O(tcp_keepalive_time), O(tcp_keepalive_intvl),
        O(tcp_keepalive_probes) and O(tcp_retries2) is required when O(state=present).
    type: raw
  tcp_keepalive_intvl:
    description:
      - Seconds between unanswered probes (C(net.ipv4.tcp_keepalive_intvl)). 1..32767.
    type: raw
  tcp_keepalive_probes:
    description:
      - Unanswered probes before the connection is dropped (C(net.ipv4.tcp_keepalive_probes)).
        1..127.
    type: raw
  tcp_retries2:
    description:
      - Retransmissions of unacknowledged data before the kernel gives up on a connection
        (C(net.ipv4.tcp_retries2)). A connection with data in flight never sends keepalive
        probes, so this, not the keepalive keys, decides when it notices a dead peer. The
        kernel turns it into a time at the minimum RTO of 200 ms, 120 s at most per step -
        the Linux default 15 gives up after about 924.6 s, 8 after about 102.2 s.
      - A whole number in 3..255 (strings of digits are accepted, booleans and fractions
        are not). The kernel takes 0..255, but 0, 1 and 2 are refused - they give up after
        1.4 s or less, so a short loss burst or a slow peer drops every busy connection.
        3..7 are set with a warning, as RFC 1122 asks for at least 100 s (8 or more).
      - Optional. When it is not given, the module does not read, set or report its runtime
        value; a line for it that an earlier run wrote to our file is kept, like the
        keepalive keys. It is written to our file after the keepalive keys.
      - With O(state=absent) and O(restore_runtime=true) its runtime value is reset to its
        boot value when our file set it, or when this option is given (its value is then
        not used); otherwise it is left alone.
    type: raw
  state:
    description:
      - V(present) sets the given keys.
      - V(absent) removes our file (other files are never touched); with
        O(restore_runtime=true) the runtime values are reset to what the remaining files give
        at boot, or to the kernel defaults (7200, 75, 9; 15 for O(tcp_retries2), see there).
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Write the values to our file O(path) so they survive a reboot.
      - Keys not given but already in our file are kept, so separate tasks can set separate
        keys; any other line of our file is dropped (it holds exactly our keys and a
        managed-by header).
    type: bool
    default: true
  path:
    description:
      - Our file. A C(*.conf) file directly inside one of the sysctl.d directories listed
        above; anything else is refused, because nothing reads it at boot.
      - It must not exist yet or be a regular file this module wrote (its first line is the
        managed-by header). Another file there (an admin's, a package's), a directory, a FIFO,
        a link (a link to C(/dev/null) is a mask) is refused with O(persist=true) and with
        O(state=absent), before anything is changed.
      - Choose a name that sorts after the files that set the same keys, or
        RV(shadowed_by) will list them.
      - C(/run/sysctl.d) is emptied at every boot; a file there gets a warning.
    type: str
    default: /etc/sysctl.d/90-netstack-keepalive.conf
  mode:
    description:
      - Permissions of our file, as an octal string (quote it in YAML).
      - The owner must be able to read it; group and other write and the setuid, setgid and
        sticky bits are refused, since anyone who can write the file sets kernel parameters
        at the next boot. There is no opt-in for them.
      - An integer is taken as the mode's value, which is what YAML makes of an unquoted
        V(0644) (420). An integer written with the digits 0-7 only that would be an allowed
        mode when read as octal (such as an unquoted V(644), which YAML reads as the decimal
        644) is refused as a forgotten quote.
    type: raw
    default: '0644'
  apply:
    description:
      - Set the runtime values of the given keys now (only the keys that differ are written).
    type: bool
    default: true
  restore_runtime:
    description:
      - With O(state=absent), reset the runtime values to the boot values the remaining files
        give (kernel defaults for keys nobody sets). C(tcp_retries2) only when our file set it
        or O(tcp_retries2) is given.
    type: bool
    default: false
  on_shadowed:
    description:
      - What to do when another file overrides ours at boot (RV(shadowed_by) is not empty).
      - V(fail) refuses before changing anything; V(warn) changes and warns; V(ignore) changes
        silently (the entries are still returned).
    type: str
    choices: [fail, warn, ignore]
    default: fail
  netns:
    description:
      - Network namespace to act in, the keepalive sysctls being per namespace. A name of
        C(ip netns list) (under C(/run/netns)) or an absolute path to a network namespace
        file such as C(/proc/PID/ns/net); anything else (a plain file, another namespace
        type, a FIFO) is refused before anything is changed.
      - Default is the namespace the module runs in. Files are shared by every namespace of
        the host; the boot model describes the namespace the host boots with. A namespace
        made by C(ip netns add) starts from kernel defaults, so with O(persist=true) the
        module warns that the file does not reach it by itself.
      - A namespace that a container or pod owns (its processes' cgroups name a Docker,
        containerd, CRI-O or Podman container or a Kubernetes pod, as
        M(netstack.keepalive.keepalive_sockets_info) finds them) is set all the same, with a
        warning that says so - the value vanishes with the container, the next one starts
        from the kernel defaults - and gives the runtime's own setting instead (the pod's
        C(securityContext.sysctls), C(docker run --sysctl), ...). Check mode changes
        nothing there either.
    type: str
attributes:
  check_mode:
    support: full
    details: Computes the same plan and creates, writes and removes nothing (no lock file,
      no temporary file); when the lock file exists it waits for a running change first, so
      it never reports half of one.
  diff_mode:
    support: full
    details: Shows our file and the runtime values before and after.
  idempotent:
    description: When run twice with the same options, the second run changes nothing and
      reports RV(changed=false).
    support: full
notes:
  - Needs root (and C(CAP_SYS_ADMIN) for O(netns)). A missing or read-only
    C(/proc/sys/net/ipv4), as in many containers, is reported as an error when a runtime
    value has to change; use O(apply=false) to only persist there.
  - The boot model follows procps C(sysctl --system), which applies C(/etc/sysctl.conf) last.
    systemd-sysctl reads it only through the C(/etc/sysctl.d/99-sysctl.conf) link that Debian,
    Ubuntu and RHEL ship; where that link exists both report the same values.
  - Glob keys (C(net.ipv4.*)) in other files are not modelled.
seealso:
  - name: sysctl.d(5)
    description: Configuration directories and their precedence.
    link: https://man7.org/linux/man-pages/man5/sysctl.d.5.html
  - module: ansible.posix.sysctl
"""

EXAMPLES = r"""
- name: Detect dead peers within 5 minutes, now and after every reboot
  netstack.keepalive.keepalive_sysctl:
    tcp_keepalive_time: 120
    tcp_keepalive_intvl: 30
    tcp_keepalive_probes: 6

- name: Same, inside a network namespace, warning instead of failing on shadowing files
  netstack.keepalive.keepalive_sysctl:
    tcp_keepalive_time: 120
    netns: blue
    on_shadowed: warn

- name: Also give up on a busy connection to a dead peer after about 102 s, not 924.6 s
  netstack.keepalive.keepalive_sysctl:
    tcp_keepalive_time: 120
    tcp_keepalive_intvl: 30
    tcp_keepalive_probes: 6
    tcp_retries2: 8

- name: Only change the runtime value (lost at reboot)
  netstack.keepalive.keepalive_sysctl:
    tcp_keepalive_time: 600
    persist: false

- name: Remove our file and go back to what the other files (or the kernel) say
  netstack.keepalive.keepalive_sysctl:
    state: absent
    restore_runtime: true

- name: Audit without changing anything (check mode) and keep the boot prediction
  netstack.keepalive.keepalive_sysctl:
    tcp_keepalive_time: 120
    on_shadowed: ignore
  check_mode: true
  register: keepalive
"""

RETURN = r"""
before:
  description:
    - Runtime values before the task, in O(netns).
    - C(tcp_retries2) only when O(tcp_retries2) is given, or when O(restore_runtime) resets it.
  returned: always
  type: dict
  sample: {tcp_keepalive_time: 7200, tcp_keepalive_intvl: 75, tcp_keepalive_probes: 9}
after:
  description:
    - Runtime values after the task (read back; in check mode, the values it would set); the
      same keys as RV(before).
  returned: always
  type: dict
  sample: {tcp_keepalive_time: 120, tcp_keepalive_intvl: 30, tcp_keepalive_probes: 6}
boot_values:
  description:
    - Value of each key after a reboot, as the boot-precedence model computes it with our file
      as it is after the task, and where it comes from (C(file:line) or C(kernel default)).
    - C(tcp_retries2) is included when O(tcp_retries2) is given or any file applied at boot
      (ours or another, before or after the task) sets it.
  returned: always
  type: dict
  sample:
    tcp_keepalive_time:
      value: 120
      source: /etc/sysctl.d/90-netstack-keepalive.conf:3
      file: /etc/sysctl.d/90-netstack-keepalive.conf
      line: 3
    tcp_keepalive_intvl: {value: 75, source: kernel default, file: null, line: null}
    tcp_keepalive_probes: {value: 9, source: kernel default, file: null, line: null}
boot_values_before:
  description:
    - The same as RV(boot_values), for the files as they are before the task - what a reboot
      would give now. Equal to RV(boot_values) when our file does not change; an audit in
      check mode reports these.
  returned: always
  type: dict
  sample:
    tcp_keepalive_time: {value: 7200, source: kernel default, file: null, line: null}
    tcp_keepalive_intvl: {value: 75, source: kernel default, file: null, line: null}
    tcp_keepalive_probes: {value: 9, source: kernel default, file: null, line: null}
shadowed_by:
  description:
    - Every entry that overrides our file at boot - an assignment of one of our keys in a file
      applied after ours (listed even when its value equals ours), or a file of the same name
      in a higher-priority directory that masks ours (C(key) and C(value) null). Our keys are
      the ones our file sets, C(net.ipv4.tcp_retries2) included when it is there.
    - Empty when O(persist=false) or O(state=absent).
  returned: always
  type: list
  elements: dict
  sample:
    - file: /etc/sysctl.d/99-zzz.conf
      line: 2
      key: net.ipv4.tcp_keepalive_time
      value: 7200
      reason: applied after /etc/sysctl.d/90-netstack-keepalive.conf
boot_problems:
  description: Files or lines the boot model could not use (unreadable files, invalid lines,
    non-numeric values for our keys); each also produces a warning.
  returned: always
  type: list
  elements: dict
  sample:
    - {file: /etc/sysctl.d/10-secret.conf, line: null, reason: "unreadable: Permission denied"}
file:
  description: Path of our file.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-netstack-keepalive.conf
leftovers_removed:
  description:
    - Files of ours removed (or in check mode to be removed) besides our file - temporary
      files of O(path) a killed run left, and with O(state=absent) the lock file. Their
      removal is a change.
  returned: always
  type: list
  elements: str
  sample: [/etc/sysctl.d/.90-netstack-keepalive.conf.k2x9_0qa]
file_changed:
  description: Whether our file was (or in check mode would be) written, re-moded or removed.
  returned: always
  type: bool
  sample: true
runtime_changed:
  description: Whether a runtime value was (or would be) changed.
  returned: always
  type: bool
  sample: true
detection_seconds:
  description:
    - Seconds from the last packet to a dead peer being noticed on an idle connection with the
      runtime values in RV(after) - C(time + intvl * probes).
    - The idle figure only; C(tcp_retries2) is not part of it (a busy connection does not
      send keepalive probes).
  returned: always
  type: int
  sample: 300
netns:
  description: The network namespace acted in (C(name) and C(path) null for the module's own).
  returned: always
  type: dict
  sample: {name: blue, path: /run/netns/blue, inode: 4026532577}
changed:
  description: Whether our file, a runtime value or a leftover file was (or would be) changed.
  returned: always
  type: bool
  sample: true
"""

# Ansible modules keep their imports after the documentation blocks.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (  # noqa: E402
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._converge import (  # noqa: E402
    converge,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._params import (  # noqa: E402
    module_kwargs,
)

# Where the filesystem is; unit tests point it at a fake tree.
ROOT = "/"


def main():
    module = AnsibleModule(**module_kwargs())
    try:
        result, warnings = converge(
            module.params, check_mode=module.check_mode, want_diff=module._diff, root=ROOT
        )
    except KeepaliveError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

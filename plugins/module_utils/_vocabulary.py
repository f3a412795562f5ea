# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts every part of the collection shares, each defined once (pure Python, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.

The three keepalive values and their names, the kernel's limits and defaults (and those of
tcp_retries2), the detection formula, verdict statuses and their order, the fail gate, the
strict integer check and the platform check. Modules, filters, the role's plan and the fleet
report import them from here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re
import sys

# The policy engine's short names, in the order every table and file lists them.
VALUE_NAMES = ("time", "intvl", "probes")
# The options of keepalive_sysctl, the files in /proc/sys/net/ipv4 and the namespace sysctls
# keepalive_sockets_info returns all use the kernel's names.
OPTION_OF = dict((name, "tcp_keepalive_" + name) for name in VALUE_NAMES)
OPTION_NAMES = tuple(OPTION_OF[name] for name in VALUE_NAMES)
VALUE_OF = dict((OPTION_OF[name], name) for name in VALUE_NAMES)
# The dotted sysctl keys, by short name and by option name.
SYSCTL_NAMES = dict((name, "net.ipv4." + OPTION_OF[name]) for name in VALUE_NAMES)
SYSCTL_KEYS = tuple(SYSCTL_NAMES[name] for name in VALUE_NAMES)
SYSCTL_KEY_OF = dict((OPTION_OF[name], SYSCTL_NAMES[name]) for name in VALUE_NAMES)
# net.ipv4.tcp_retries2: retransmissions of unacknowledged data before the kernel gives up on
# a connection (one with data in flight never sends keepalive probes). Not a keepalive value:
# keepalive_sysctl manages it only when asked to, and no idle figure uses it.
RETRIES2_OPTION = "tcp_retries2"
RETRIES2_SYSCTL = "net.ipv4." + RETRIES2_OPTION
# proc_dou8vec_minmax since Linux 5.13 (proc_dointvec before); Linux's default.
RETRIES2_LIMITS = (0, 255)
LINUX_RETRIES2 = 15

# What setsockopt accepts on a socket (include/net/tcp.h: MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL,
# MAX_TCP_KEEPCNT; the lower bound is 1). The sysctls themselves take more without a word.
KERNEL_LIMITS = {"time": (1, 32767), "intvl": (1, 32767), "probes": (1, 127)}
# Linux and RFC 1122: the first probe after two hours.
LINUX_DEFAULTS = {"time": 7200, "intvl": 75, "probes": 9}
UNITS = {"time": "seconds", "intvl": "seconds", "probes": "probes"}

# Verdict statuses, best first. ``unknown`` exists only in the fleet report: a host the audit
# could not see, never a pass.
PASS = "pass"
WARN = "warn"
FAIL = "fail"
UNKNOWN = "unknown"
STATUSES = (PASS, WARN, FAIL)
REPORT_STATUSES = STATUSES + (UNKNOWN,)
# Worst last: a host nobody could audit is worse than a warning, a failing check worse still.
STATUS_RANK = {PASS: 0, WARN: 1, UNKNOWN: 2, FAIL: 3}
# A row of keepalive_sockets_info's summary (and of the report's adoption table): the sockets
# counted per namespace, unit, command, state, effective values and where they were read,
# then how many of them are retransmitting or probing an unanswering peer right now.
SUMMARY_KEYS = (
    "netns",
    "unit",
    "comm",
    "state",
    "keepalive",
    "idle",
    "intvl",
    "cnt",
    "user_timeout",
    "source",
    "count",
    "retransmitting",
    "probing",
)
# The keys of a verdict, in the order make_verdict gives them.
VERDICT_KEYS = ("check", "subject", "status", "value", "limit", "message")

# ``fail_on`` of the role and of keepalive_report: the best status that still fails the gate.
# ``fail`` catches an unknown host too: an audit that could not see a host must not look green.
FAIL_ON = ("fail", "warn", "never")
FAIL_ON_THRESHOLD = {"fail": UNKNOWN, "warn": WARN}
ON_SHADOWED = ("fail", "warn", "ignore")
MODES = ("enforce", "audit")


def probe_window(intvl, probes):
    """Seconds the probes of an idle connection take to give up: intvl x probes."""
    return intvl * probes


def detection_time(values):
    """Worst-case seconds from a peer's death to the socket's error when idle:
    time + intvl x probes (``values`` by short name)."""
    return values["time"] + probe_window(values["intvl"], values["probes"])


def short_names(option_values):
    """``{tcp_keepalive_time: 1, ...}`` -> ``{time: 1, ...}``; other keys are dropped."""
    return dict((VALUE_OF[key], value) for key, value in option_values.items() if key in VALUE_OF)


def make_verdict(check, subject, status, value, limit, message):
    """The one shape of a verdict."""
    return {
        "check": check,
        "subject": subject,
        "status": status,
        "value": value,
        "limit": limit,
        "message": message,
    }


def worst_status(statuses, default=UNKNOWN):
    """The worst of ``statuses``; ``unknown`` for none (an audit that saw nothing is not
    green), unless the caller says what none means."""
    return max(statuses, key=STATUS_RANK.__getitem__, default=default)


def fails_gate(status, fail_on):
    """Does ``status`` fail the gate ``fail_on`` (one of ``FAIL_ON``)?"""
    threshold = FAIL_ON_THRESHOLD.get(fail_on)
    return threshold is not None and STATUS_RANK[status] >= STATUS_RANK[threshold]


def is_integer(value):
    """An int that is not a boolean: Python counts True as 1, but ``time: yes`` is a mistake."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_linux(platform_name=None):
    """Is this host (or ``sys.platform`` / ``platform.system()`` name given) Linux?"""
    name = sys.platform if platform_name is None else platform_name
    return name.lower().startswith("linux")


def pattern_matcher(patterns):
    """A test of whether a name (None never matches) matches one of the shell ``patterns``,
    case-sensitive as ``fnmatch.fnmatchcase``, compiled here once. Held at module level, it
    is compiled when the module is imported: a controller's forked workers inherit it instead
    of each compiling the patterns again."""
    if not patterns:
        return lambda name: False
    match = re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns)).match
    return lambda name: name is not None and match(name) is not None

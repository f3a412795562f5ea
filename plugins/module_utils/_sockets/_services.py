# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What services on the host say about their own heartbeats: sshd's effective ClientAlive.

This module_util is private to the netstack.keepalive collection; it may change at any time.

``sshd -T`` prints the effective configuration (defaults, Include files and all) with
lower-case keys. The command line is fixed; only a test passes another configuration file.
It needs root (sshd reads its host keys); without it, or without sshd, the reader says why
and the sockets are judged by their SO_KEEPALIVE as before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    pattern_matcher,
)

# How sshd's sockets are known (systemd units, the kernel's comm of the listener and of a
# session: OpenSSH 10 serves sessions in sshd-session). _remediation names the service by them.
SSHD_UNITS = ("ssh.service", "sshd.service", "sshd@*.service")
SSHD_COMMS = ("sshd", "sshd-session")
_SSHD_UNIT = pattern_matcher(SSHD_UNITS)
_SSHD_COMM = pattern_matcher(SSHD_COMMS)
SSHD_PATHS = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
SSHD_TIMEOUT = 5
SSHD_SOURCE = "sshd -T"
SSHD_LABEL = "sshd's ClientAlive heartbeat"


def may_be_sshd(unit, comm):
    """Whether a socket group of ``unit`` and ``comm`` may be sshd's (a superset of the
    groups _remediation names sshd: that one also lets an earlier service win)."""
    return _SSHD_UNIT(unit) or _SSHD_COMM(comm)


def find_sshd(paths=SSHD_PATHS):
    for path in paths:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def parse_sshd_t(text):
    """``{clientaliveinterval, clientalivecountmax, tcpkeepalive}`` from ``sshd -T`` output;
    a key sshd did not print is left out."""
    found = {}
    for line in text.splitlines():
        key, _space, value = line.strip().partition(" ")
        if key in ("clientaliveinterval", "clientalivecountmax"):
            try:
                found[key] = int(value.strip())
            except ValueError:
                continue
        elif key == "tcpkeepalive":
            found[key] = value.strip().lower() == "yes"
    return found


def read_sshd(config=None, binary=None, timeout=SSHD_TIMEOUT):
    """``(settings, None)`` or ``(None, reason)``: sshd's effective ClientAlive settings."""
    binary = binary or find_sshd()
    if binary is None:
        return None, "sshd not found in %s" % ", ".join(SSHD_PATHS)
    argv = [binary, "-T"] + (["-f", config] if config else [])
    try:
        # Python 3.6 has neither capture_output nor text (both 3.7).
        done = subprocess.run(  # noqa: UP022
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,  # noqa: UP021
            timeout=timeout,
            check=False,  # a refusal is a reason to report, not an exception
        )
    except subprocess.TimeoutExpired:
        return None, "%s did not answer within %s s" % (" ".join(argv), timeout)
    except OSError as exc:
        return None, "%s: %s" % (" ".join(argv), exc)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["exit %d" % done.returncode])[-1]
        if os.geteuid() != 0:
            reason += " (sshd -T needs root: become: true)"
        return None, "%s failed: %s" % (" ".join(argv), reason)
    settings = parse_sshd_t(done.stdout)
    if "clientaliveinterval" not in settings:
        return None, "%s printed no clientaliveinterval" % " ".join(argv)
    return settings, None


def sshd_heartbeat(settings, source=SSHD_SOURCE):
    """The heartbeat of ``settings`` (``read_sshd``), or None when ClientAliveInterval is 0."""
    interval = settings.get("clientaliveinterval") or 0
    if interval <= 0:
        return None
    return {
        "service": "sshd",
        "name": "sshd",
        "interval": interval,
        "count_max": settings.get("clientalivecountmax", 3),
        "tcp_keepalive": settings.get("tcpkeepalive"),
        "source": source,
        "label": SSHD_LABEL,
    }

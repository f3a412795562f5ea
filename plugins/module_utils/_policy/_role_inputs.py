# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every input of the role tcp_keepalive, checked before the role changes anything.

This module_util is private to the netstack.keepalive collection; it may change at any time.
Pure Python, no I/O. The role (and the rollout's preflight, through the role's ``validate``
entry point) calls ``check_role_inputs`` through the filter ``keepalive_role_inputs``; the
checks are the ones the modules and the policy engine apply, so an input that passes here is
one they accept.

Each problem is one sentence naming the role variable, the value and what is allowed. All
problems are returned at once, so one run shows everything to fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _engine as policy
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    normalize_require,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._heartbeat import (
    normalize_heartbeats,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import kind
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._params import (
    check_mode_value,
    check_path,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    FAIL_ON,
    MODES,
    ON_SHADOWED,
)

CHOICES = {
    "tcp_keepalive_mode": MODES,
    "tcp_keepalive_on_shadowed": ON_SHADOWED,
    "tcp_keepalive_fail_on": FAIL_ON,
}
BOOLEANS = (
    "tcp_keepalive_apply_enabled",
    "tcp_keepalive_persist_enabled",
    "tcp_keepalive_adoption_enabled",
    "tcp_keepalive_middlebox_enabled",
)
# What Ansible's own boolean conversion accepts (argument specs and the bool filter).
TRUE_WORDS = ("y", "yes", "on", "1", "true", "t")
FALSE_WORDS = ("n", "no", "off", "0", "false", "f")
# A bare name in tcp_keepalive_require checks established connections only: a listener's
# own SO_KEEPALIVE is irrelevant when the service sets it on each accepted connection
# (sshd, redis, PostgreSQL do), and such a listener would fail every host.
ROLE_REQUIRE_STATES = ("established",)
# Each has its own check below; KNOWN is every variable the role reads.
OTHER_INPUTS = (
    "tcp_keepalive_profile",
    "tcp_keepalive_profiles",
    "tcp_keepalive_path",
    "tcp_keepalive_sysctl_file",
    "tcp_keepalive_sysctl_file_mode",
    "tcp_keepalive_netns",
    "tcp_keepalive_require",
    "tcp_keepalive_heartbeats",
)
KNOWN = OTHER_INPUTS + tuple(CHOICES) + BOOLEANS


def check_role_inputs(variables):
    """``{valid, errors, require, heartbeats}`` for the role's variables (a mapping of name
    to value).

    ``require`` is ``tcp_keepalive_require`` with every entry spelled out as
    ``{name, states}`` (what the role passes to keepalive_sockets_info); None when invalid.
    ``heartbeats`` is ``tcp_keepalive_heartbeats`` checked (``{name, heartbeat}`` each).
    """
    if not isinstance(variables, dict):
        raise KeepaliveError("role inputs must be a mapping of variable names to values")
    missing = sorted(name for name in KNOWN if name not in variables)
    if missing:
        raise KeepaliveError("role inputs are missing %s" % ", ".join(missing))
    errors = []
    errors += _choice_errors(variables)
    errors += _boolean_errors(variables)
    errors += _profile_errors(
        variables["tcp_keepalive_profile"], variables["tcp_keepalive_profiles"]
    )
    errors += _path_errors(variables["tcp_keepalive_path"])
    errors += _file_errors(
        variables["tcp_keepalive_sysctl_file"], variables["tcp_keepalive_sysctl_file_mode"]
    )
    errors += _netns_errors(variables["tcp_keepalive_netns"])
    require, require_errors = _require(variables["tcp_keepalive_require"])
    errors += require_errors
    heartbeats, heartbeat_errors = _heartbeats(variables["tcp_keepalive_heartbeats"])
    errors += heartbeat_errors
    return {
        "valid": not errors,
        "errors": errors,
        "require": None if errors else require,
        "heartbeats": None if errors else heartbeats,
    }


def _choice_errors(variables):
    errors = []
    for name, allowed in sorted(CHOICES.items()):
        value = variables[name]
        if not isinstance(value, str) or value not in allowed:
            errors.append(
                "%s=%r (%s): allowed values are %s" % (name, value, kind(value), ", ".join(allowed))
            )
    return errors


def is_boolean(value):
    """True when Ansible reads ``value`` as a boolean (``true``, ``"yes"``, ``0``...)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in (0, 1)
    return isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS


def _boolean_errors(variables):
    return [
        "%s=%r (%s): allowed values are true or false"
        % (name, variables[name], kind(variables[name]))
        for name in BOOLEANS
        if not is_boolean(variables[name])
    ]


def _profile_errors(profile, profiles):
    """Every user profile on its own, then the profile the host follows."""
    if not isinstance(profiles, dict):
        return [
            "tcp_keepalive_profiles=%r (%s): allowed: a mapping of profile names to "
            "profiles" % (profiles, kind(profiles))
        ]
    errors = []
    for name in sorted(profiles, key=str):
        if not isinstance(name, str):
            errors.append(
                "tcp_keepalive_profiles: profile name %r (%s) must be a string" % (name, kind(name))
            )
            continue
        try:
            policy.resolve_profile(name, profiles)
        except KeepaliveError as exc:
            errors.append("tcp_keepalive_profiles.%s=%r: %s" % (name, profiles[name], exc))
    if errors:
        return errors
    if not isinstance(profile, (str, dict)):
        return [
            "tcp_keepalive_profile=%r (%s): allowed: a profile name (%s) or a profile "
            "mapping (%s)"
            % (
                profile,
                kind(profile),
                ", ".join(policy.profile_names(profiles)),
                ", ".join(PROFILE_FIELDS),
            )
        ]
    try:
        policy.resolve_profile(profile, profiles)
    except KeepaliveError as exc:
        return ["tcp_keepalive_profile=%r: %s" % (profile, exc)]
    return []


PROFILE_FIELDS = policy.VALUE_NAMES + (
    "detect_within",
    "tolerate_outage",
    "margin",
    "detect_busy_within",
    "user_timeout",
    "base",
)


def _path_errors(path):
    try:
        policy.resolve_path(path)
    except KeepaliveError as exc:
        return ["tcp_keepalive_path=%r: %s" % (path, exc)]
    return []


def _file_errors(path, mode):
    errors = []
    for name, value, check in (
        ("tcp_keepalive_sysctl_file", path, check_path),
        ("tcp_keepalive_sysctl_file_mode", mode, check_mode_value),
    ):
        try:
            check(value)
        except KeepaliveError as exc:
            errors.append("%s=%r: %s" % (name, value, _without_tail(exc)))
    return errors


def _without_tail(exc):
    """The module's message without its closing "nothing was changed" (the role says it)."""
    return str(exc).replace("; nothing was changed", "")


def _netns_errors(netns):
    allowed = (
        "allowed: empty for the host's own namespace, a name of 'ip netns list' or a "
        "path such as /proc/PID/ns/net"
    )
    if netns is None:
        return []
    if not isinstance(netns, str) or "\n" in netns or netns != netns.strip():
        return ["tcp_keepalive_netns=%r (%s): %s" % (netns, kind(netns), allowed)]
    if netns and "/" not in netns and netns in (".", ".."):
        return ["tcp_keepalive_netns=%r: %s" % (netns, allowed)]
    return []


def _heartbeats(heartbeats):
    try:
        normalize_heartbeats(heartbeats, option="tcp_keepalive_heartbeats")
    except KeepaliveError as exc:
        return None, [str(exc)]
    return list(heartbeats or []), []


def _require(require):
    try:
        clean = normalize_require(
            require, option="tcp_keepalive_require", default_states=ROLE_REQUIRE_STATES
        )
    except KeepaliveError as exc:
        return None, [str(exc)]
    return clean, []

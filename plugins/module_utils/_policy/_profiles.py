# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel limits, input validation and keepalive profiles (pure Python, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.
Use it through ``_policy`` (the stable list of functions lives there).

A profile is a mapping with explicit values (``time``, ``intvl``, ``probes``) and/or
requirements: ``detect_within`` (s, worst-case time to notice a dead peer),
``tolerate_outage`` (s, a network blip shorter than this must not kill an idle connection;
default 30) and ``margin`` (s, how far below the
smallest layer-4 idle timeout the first probe must leave; default 30). Two optional keys
are about connections with data in flight (busy), which keepalive never probes:
``detect_busy_within`` (s, worst-case time to notice a dead peer while data is
unacknowledged; asks for a ``tcp_retries2`` proposal) and ``user_timeout`` (s, the
``TCP_USER_TIMEOUT`` the applications are expected to set). ``base`` names a profile to start
from; ``description`` is free text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    KERNEL_LIMITS,
    LINUX_DEFAULTS,
    VALUE_NAMES,
    is_integer,
)

MAX_PROBE_WINDOW = KERNEL_LIMITS["intvl"][1] * KERNEL_LIMITS["probes"][1]
MAX_DETECTION = KERNEL_LIMITS["time"][1] + MAX_PROBE_WINDOW
# A blip shorter than this must not kill idle connections (10 s x 3 probes dies at second 31).
DEFAULT_TOLERATE_OUTAGE = 30
# Middleboxes sweep their tables coarsely and count idle time from their own last packet;
# 30 s keeps the first probe clear of that jitter without giving up much idle time.
DEFAULT_MARGIN = 30
REQUIREMENT_NAMES = ("detect_within", "tolerate_outage", "margin")
REQUIREMENT_LIMITS = {
    "detect_within": (2, MAX_DETECTION),
    "tolerate_outage": (0, MAX_PROBE_WINDOW),
    "margin": (0, KERNEL_LIMITS["time"][1]),
}
REQUIREMENT_DEFAULTS = {
    "detect_within": None,
    "tolerate_outage": DEFAULT_TOLERATE_OUTAGE,
    "margin": DEFAULT_MARGIN,
}
# Busy connections (docs/policy.md, "Idle and busy connections"): no default, None means
# "not asked" (detect_busy_within) and "the applications set no TCP_USER_TIMEOUT".
BUSY_NAMES = ("detect_busy_within", "user_timeout")
BUSY_LIMITS = {
    "detect_busy_within": (1, MAX_DETECTION),
    # TCP_USER_TIMEOUT takes an unsigned int of milliseconds, refused above INT_MAX.
    "user_timeout": (1, 2147483),
}
PROFILE_KEYS = VALUE_NAMES + REQUIREMENT_NAMES + BUSY_NAMES + ("base", "description")

BUILTIN_PROFILES = {
    "kernel_default": {
        "description": "Linux and RFC 1122 defaults, for reference: first probe after two "
        "hours, a dead peer noticed after 7875 s.",
        "time": LINUX_DEFAULTS["time"],
        "intvl": LINUX_DEFAULTS["intvl"],
        "probes": LINUX_DEFAULTS["probes"],
    },
    "cloud": {
        "description": "General cloud hosts: the first probe at 180 s beats every confirmed "
        "layer-4 default (Azure 240 s, AWS 350 s, Google Cloud 600 s); rides out a 60 s blip; "
        "a dead peer noticed within 5 minutes.",
        "time": 180,
        "tolerate_outage": 60,
        "detect_within": 300,
    },
    "database": {
        "description": "Database and message-queue clients and servers: a dead peer noticed "
        "within 2 minutes, blips up to 30 s tolerated.",
        "detect_within": 120,
        "tolerate_outage": 30,
    },
    "latency_sensitive": {
        "description": "Fast failover: a dead peer noticed within 30 s. Only 10 s blips are "
        "tolerated (false positives on longer ones) and idle sockets probe often.",
        "detect_within": 30,
        "tolerate_outage": 10,
    },
}


def check_integer(option, value, minimum, maximum=None, unit=""):
    """Return ``value`` if it is an integer in [minimum, maximum], else raise.

    Booleans are refused although Python counts them as integers: ``time: yes`` is a mistake.
    Strings are refused too: callers convert typed input (argument specs do) before asking.
    """
    allowed = "%s..%s%s" % (minimum, "" if maximum is None else maximum, unit)
    if not is_integer(value):
        message = "%s must be an integer in %s, got %r (%s)" % (option, allowed, value, kind(value))
        raise limit_error(message, option, value, minimum, maximum)
    if value < minimum or (maximum is not None and value > maximum):
        message = "%s=%s is out of range: allowed %s" % (option, value, allowed)
        raise limit_error(message, option, value, minimum, maximum)
    return value


def limit_error(message, option, value, minimum, maximum):
    """The error of a value outside its limits, with the limits as details."""
    return KeepaliveError(message, option=option, value=value, minimum=minimum, maximum=maximum)


def kind(value):
    """Plain type name: Ansible hands over tagged subclasses (_AnsibleTaggedStr and the like)."""
    if isinstance(value, bool):
        return "a boolean"
    for base in (int, float, str, dict, list, tuple):
        if isinstance(value, base):
            return base.__name__
    return type(value).__name__


def _require_mapping(option, value):
    if not isinstance(value, dict):
        raise KeepaliveError(
            "%s must be a mapping, got %r (%s)" % (option, value, kind(value)), option=option
        )


def validate_values(values, partial=False, option="values"):
    """Check keepalive values against the kernel limits; return a clean dict.

    ``values`` maps ``time``/``intvl``/``probes`` to integers. With ``partial`` some may be
    missing (profiles); otherwise all three are required. Unknown keys are refused.
    """
    _require_mapping(option, values)
    unknown = sorted(str(key) for key in values if key not in VALUE_NAMES)
    if unknown:
        raise KeepaliveError(
            "%s has unknown keys %s; allowed: %s" % (option, unknown, ", ".join(VALUE_NAMES)),
            option=option,
        )
    missing = [name for name in VALUE_NAMES if name not in values]
    if missing and not partial:
        raise KeepaliveError("%s is missing %s" % (option, ", ".join(missing)), option=option)
    clean = {}
    for name in VALUE_NAMES:
        if name in values and not (partial and values[name] is None):
            low, high = KERNEL_LIMITS[name]
            clean[name] = check_integer("%s.%s" % (option, name), values[name], low, high)
    return clean


def validate_requirements(profile, option="profile"):
    """Check the requirement keys of a profile mapping; return them with defaults filled in."""
    clean = {}
    for name in REQUIREMENT_NAMES:
        value = profile.get(name)
        if value is None:
            clean[name] = REQUIREMENT_DEFAULTS[name]
        else:
            low, high = REQUIREMENT_LIMITS[name]
            clean[name] = check_integer("%s.%s" % (option, name), value, low, high, " s")
    for name in BUSY_NAMES:
        value = profile.get(name)
        if value is not None:
            low, high = BUSY_LIMITS[name]
            value = check_integer("%s.%s" % (option, name), value, low, high, " s")
        clean[name] = value
    return clean


def profile_names(profiles=None):
    """Names a profile may be given by: built-ins and user profiles, sorted."""
    return sorted(set(BUILTIN_PROFILES) | set(profiles or {}))


def resolve_profile(profile_or_name, profiles=None):
    """Turn a profile name or mapping into a checked, normalised profile.

    ``profiles`` (user profiles) is merged over the built-ins by name: a user ``cloud``
    replaces the built-in one. ``base: NAME`` starts from another profile; a profile whose
    base is its own name starts from the built-in of that name.

    Returns ``{name, description, values (explicit only), detect_within, tolerate_outage,
    margin, detect_busy_within, user_timeout, defaults_used}``.
    """
    user = {} if profiles is None else profiles
    _require_mapping("profiles", user)
    if isinstance(profile_or_name, str):
        name = profile_or_name
        merged = _flatten(name, user, [])
    elif isinstance(profile_or_name, dict):
        name = "inline"
        merged = _merge_base(name, profile_or_name, user, [])
    else:
        raise KeepaliveError(
            "profile must be a name or a mapping, got %r (%s)"
            % (profile_or_name, kind(profile_or_name)),
            option="profile",
        )
    option = "profile" if name == "inline" else "profiles.%s" % name
    values = validate_values(
        {key: merged[key] for key in VALUE_NAMES if key in merged},
        partial=True,
        option=option,
    )
    requirements = validate_requirements(merged, option=option)
    result = {
        "name": name,
        "description": str(merged.get("description", "")),
        "values": values,
        "defaults_used": sorted(key for key in REQUIREMENT_NAMES if merged.get(key) is None),
    }
    result.update(requirements)
    return result


def _lookup(name, user, skip_user=False):
    if not skip_user and name in user:
        return user[name]
    if name in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[name]
    raise KeepaliveError(
        "unknown profile %r; known profiles: %s" % (name, ", ".join(profile_names(user))),
        option="profile",
        value=name,
    )


def _flatten(name, user, seen, skip_user=False):
    if (name, skip_user) in seen:
        chain = " -> ".join(step[0] for step in seen + [(name, skip_user)])
        raise KeepaliveError("profile base loop: %s" % chain, option="profile", value=name)
    profile = _lookup(name, user, skip_user)
    _require_mapping("profile %r" % name, profile)
    return _merge_base(name, profile, user, seen + [(name, skip_user)])


def _merge_base(name, profile, user, seen):
    _require_mapping("profile %r" % name, profile)
    unknown = sorted(str(key) for key in profile if key not in PROFILE_KEYS)
    if unknown:
        raise KeepaliveError(
            "profile %r has unknown keys %s; allowed: %s"
            % (name, unknown, ", ".join(PROFILE_KEYS)),
            option="profile",
            value=name,
        )
    base = profile.get("base")
    if base is None:
        return dict(profile)
    if not isinstance(base, str):
        raise KeepaliveError(
            "profile %r: base must be a profile name, got %r" % (name, base), option="profile"
        )
    # "base: cloud" inside the user's own "cloud" means the built-in one.
    merged = _flatten(base, user, seen, skip_user=(base == name))
    merged.update((key, value) for key, value in profile.items() if key != "base")
    return merged

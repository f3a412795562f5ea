# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of keepalive_sysctl: the argument spec and the checks it cannot express.

This module_util is private to the netstack.keepalive collection; it may change at any time.

Values arrive as ints (YAML, Jinja) or as strings (``-a key=value``), so the three keepalive
options and ``tcp_retries2`` are ``type: raw`` here and checked by ``validate``: a whole
number, not a boolean, inside the range the kernel's socket options accept (for
``tcp_retries2``: what the kernel accepts, less the values below ``RETRIES2_MIN``). Every
message names the option, the value and the allowed range or the reason; validation happens
before anything is touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import sys

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._netns import (
    resolve_netns,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._boot import (
    SYSCTL_D_DIRS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    KERNEL_LIMITS,
    ON_SHADOWED,
    OPTION_NAMES,
    RETRIES2_LIMITS,
    RETRIES2_OPTION,
    UNITS,
    VALUE_OF,
    is_integer,
    is_linux,
)

# Files apply in lexical order and the last one wins: 90- comes after the vendor and distro
# files (10- to 60-) that a package may drop in, yet before 99-sysctl.conf (the admin's own).
DEFAULT_PATH = "/etc/sysctl.d/90-netstack-keepalive.conf"
DEFAULT_MODE = "0644"
_DECIMAL = re.compile(r"^[0-9]+$")
_OCTAL_MODE = re.compile(r"^0?[0-7]{3,4}$")
# Every option that sets a sysctl, in the order our file lists them: the keepalive keys, then
# the optional tcp_retries2.
SYSCTL_OPTIONS = OPTION_NAMES + (RETRIES2_OPTION,)
# tcp_retries2 below 3 is refused although the kernel takes it: the kernel then gives up on
# unacknowledged data after 1.4 s of retransmissions or less (busy_timeout), so a short loss
# burst drops every busy connection. RFC 1122 (4.2.3.5) asks for at least 100 s, which
# RETRIES2_RFC1122 gives; values from RETRIES2_MIN up to it are taken with a warning.
RETRIES2_MIN = 3
RETRIES2_RFC1122 = 8


def argument_spec():
    """The AnsibleModule argument spec (the module passes it through unchanged)."""
    spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        persist=dict(type="bool", default=True),
        path=dict(type="str", default=DEFAULT_PATH),
        mode=dict(type="raw", default=DEFAULT_MODE),
        apply=dict(type="bool", default=True),
        restore_runtime=dict(type="bool", default=False),
        on_shadowed=dict(type="str", default="fail", choices=list(ON_SHADOWED)),
        netns=dict(type="str"),
    )
    for option in SYSCTL_OPTIONS:
        spec[option] = dict(type="raw")
    return spec


def module_kwargs():
    """Everything else AnsibleModule needs besides the spec."""
    return dict(
        argument_spec=argument_spec(),
        required_if=[("state", "present", list(SYSCTL_OPTIONS), True)],
        supports_check_mode=True,
    )


def validate(params, platform_name=None):
    """Check ``params`` (the module's params) and return the settings to act on.

    Raises KeepaliveError on the first problem. Nothing is touched here besides looking
    up the network namespace and the path.
    """
    platform_name = platform_name or sys.platform
    if not is_linux(platform_name):
        raise KeepaliveError(
            "keepalive_sysctl manages Linux sysctls; this host is %r (platform: Linux only); "
            "nothing was changed" % platform_name,
            option="platform",
        )
    wanted = {}
    for option in OPTION_NAMES:
        if params.get(option) is not None:
            wanted[option] = check_keepalive_value(option, params[option])
    if params.get(RETRIES2_OPTION) is not None:
        wanted[RETRIES2_OPTION] = check_retries2_value(params[RETRIES2_OPTION])
    state = params.get("state") or "present"
    if state == "present" and not wanted:
        raise KeepaliveError(
            "state=present needs at least one of %s; nothing was changed"
            % ", ".join(SYSCTL_OPTIONS),
            option="state",
        )
    # Only a missing option gets the default: an empty path is a mistake, not "the default".
    path = params.get("path")
    path = DEFAULT_PATH if path is None else path
    check_path(path)
    return {
        "wanted": wanted,
        "state": state,
        "persist": _bool(params, "persist", True),
        "apply": _bool(params, "apply", True),
        "restore_runtime": _bool(params, "restore_runtime", False),
        "on_shadowed": params.get("on_shadowed") or "fail",
        "path": path,
        "mode": check_mode_value(_default(params.get("mode"), DEFAULT_MODE)),
        "netns": params.get("netns"),
        "netns_path": resolve_netns(params.get("netns")),
    }


def _default(value, default):
    return default if value is None else value


def _bool(params, name, default):
    value = params.get(name)
    return default if value is None else bool(value)


def check_keepalive_value(option, value):
    """The value as an int, or KeepaliveError naming option, value and range."""
    low, high = KERNEL_LIMITS[VALUE_OF[option]]
    allowed = "a whole number of %s in %d..%d" % (UNITS[VALUE_OF[option]], low, high)
    return _in_range(option, _whole_number(option, value, allowed), low, high, allowed)


def _in_range(option, number, low, high, allowed):
    if not low <= number <= high:
        raise KeepaliveError(
            "%s=%d is out of range; allowed: %s; nothing was changed" % (option, number, allowed),
            option=option,
        )
    return number


def check_retries2_value(value):
    """``tcp_retries2`` as an int, or KeepaliveError naming option, value and range.

    The kernel takes 0..255; 0..2 are refused here, with the reason (``RETRIES2_MIN``).
    """
    option = RETRIES2_OPTION
    low, high = RETRIES2_MIN, RETRIES2_LIMITS[1]
    allowed = (
        "a whole number of retransmissions in %d..%d (the kernel takes %d..%d; below "
        "%d is refused)" % (low, high, RETRIES2_LIMITS[0], RETRIES2_LIMITS[1], low)
    )
    number = _whole_number(option, value, allowed)
    if RETRIES2_LIMITS[0] <= number < low:
        raise KeepaliveError(
            "%s=%d is refused: the kernel would give up on a connection with unacknowledged "
            "data after about %s s of unanswered retransmissions, so a short loss burst or a slow "
            "peer drops every busy connection; RFC 1122 asks for at least 100 s (%s=%d or more); "
            "allowed: %s; nothing was changed"
            % (option, number, _seconds(number), option, RETRIES2_RFC1122, allowed),
            option=option,
        )
    return _in_range(option, number, low, high, allowed)


def retries2_warning(number):
    """The warning for a ``tcp_retries2`` below what RFC 1122 asks for, or None."""
    if number >= RETRIES2_RFC1122:
        return None
    return (
        "%s=%d: the kernel gives up on a connection with unacknowledged data after about %s s of "
        "unanswered retransmissions, less than the 100 s RFC 1122 asks for (%s=%d or more)"
        % (RETRIES2_OPTION, number, _seconds(number), RETRIES2_OPTION, RETRIES2_RFC1122)
    )


def _seconds(retries2):
    """The kernel's give-up time for ``retries2`` at the minimum RTO, as text ("1.4")."""
    # Imported here, for the warning only: every other run of the module would compile the
    # policy code it pulls in (AnsiballZ compiles imports from source each run).
    from ansible_collections.netstack.keepalive.plugins.module_utils._policy._detection import (
        busy_timeout,
    )

    return "%g" % busy_timeout(retries2)


def _whole_number(option, value, allowed):
    """``value`` as an int: an int that is not a boolean, or a string of ASCII digits."""
    if isinstance(value, bool):
        raise KeepaliveError(
            "%s=%r is a boolean; allowed: %s; nothing was changed" % (option, value, allowed),
            option=option,
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DECIMAL.match(value.strip()):
        number = int(value.strip())
    else:
        raise KeepaliveError(
            "%s=%r is not a whole number; allowed: %s; nothing was changed"
            % (option, value, allowed),
            option=option,
        )
    return number


def check_path(path):
    """Our file must be a ``*.conf`` directly inside one of the sysctl.d directories."""
    allowed = "a *.conf file directly inside one of %s" % ", ".join(SYSCTL_D_DIRS)
    if not isinstance(path, str) or not path.startswith("/") or os.path.normpath(path) != path:
        raise KeepaliveError(
            "path=%r is not a plain absolute path; allowed: %s; nothing was changed"
            % (path, allowed),
            option="path",
        )
    name = os.path.basename(path)
    if os.path.dirname(path) not in SYSCTL_D_DIRS:
        reason = "sysctl --system and systemd-sysctl never read it"
        raise KeepaliveError(
            "path=%r is outside the sysctl.d directories (%s); allowed: %s; nothing was changed"
            % (path, reason, allowed),
            option="path",
        )
    if not name.endswith(".conf") or name == ".conf" or name.startswith(".") or "\n" in name:
        raise KeepaliveError(
            "path=%r: only *.conf files are read at boot; allowed: %s; nothing was changed"
            % (path, allowed),
            option="path",
        )


MODE_ALLOWED = (
    "allowed: an octal string such as '0644', '0640' or '0600' - owner read, no write for "
    "group or others, no setuid, setgid or sticky bit"
)


def check_mode_value(mode):
    """File mode of our file as an int, or KeepaliveError saying why the mode is refused.

    Strings are octal (``"0644"``, ``"644"``). An int is the mode's value, which is what YAML
    makes of an unquoted ``0644`` (420). An int written only with the digits 0-7 that would
    be an allowed mode when read as octal (644, 600, 640, 400) is refused: YAML turns an
    unquoted ``644`` into the decimal 644 (mode 01204), so that is a forgotten quote.
    """
    number = _mode_number(mode)
    typo = _unquoted_octal(number)
    if typo is not None and _mode_problem(typo) is None:
        raise KeepaliveError(
            "mode=%d is the decimal number %d (mode 0%03o), not the octal 0%03o it looks like "
            "(YAML reads an unquoted 644 as decimal); quote it: '0%03o'; %s; nothing was "
            "changed" % (number, number, number, typo, typo, MODE_ALLOWED),
            option="mode",
        )
    problem = _mode_problem(number)
    if problem:
        raise KeepaliveError(
            "mode=%r (0%03o) %s; %s; nothing was changed" % (mode, number, problem, MODE_ALLOWED),
            option="mode",
        )
    return number


def _mode_number(mode):
    if is_integer(mode) and 0 <= mode <= 0o7777:
        return mode
    if isinstance(mode, str) and _OCTAL_MODE.match(mode.strip()):
        return int(mode.strip(), 8)
    raise KeepaliveError(
        "mode=%r is not a file mode; %s (quote it in YAML); nothing was changed"
        % (mode, MODE_ALLOWED),
        option="mode",
    )


def _unquoted_octal(number):
    """``number`` read as if its decimal digits were octal (644 -> 0o644), or None."""
    digits = "%d" % number
    if number < 8 or not _OCTAL_MODE.match(digits):
        return None
    return int(digits, 8)


def _mode_problem(mode):
    """Why ``mode`` is unsafe for a file that sets kernel parameters at boot, or None."""
    if mode & 0o7000:
        return (
            "has a setuid, setgid or sticky bit, which mean nothing on a configuration file "
            "and hide a typo"
        )
    if mode & 0o022:
        return (
            "lets group or other users write the file, and so set any kernel parameter at "
            "the next boot"
        )
    if not mode & 0o400:
        return "gives the owner no read permission"
    return None

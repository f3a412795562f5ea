# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_audit_facts: what the role's audit learns from a host, in one module call.

This module_util is private to the netstack.keepalive collection; it may change at any time.

An audit used to send three modules to every host: keepalive_sysctl in check mode as the
preflight (``on_shadowed=ignore``), again in check mode as the apply step (with the user's
``on_shadowed``), then keepalive_sockets_info. ``audit(params)`` runs the same code on the
host: ``_sysctl._converge.converge`` in check mode on keepalive_sysctl's own option set, so
that part's result is the one the module gives (the apply step's pass only when a file
shadows ours), and the reading half of the socket audit (``_sockets._observe.observe``).
The keepalive_audit action judges the sockets with ``_sockets_info.judge`` and builds the
same host report on the controller. The host never imports the policy code: AnsiballZ
compiles each module a module imports from source, on every run of every host
(docs/fleet.md measures it). Nothing changes on the host: the sysctl passes plan in check
mode and the socket audit only reads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _observe,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import (
    _converge,
    _params,
)

# The preflight asks only whether the host can take the values: shadowing is judged by the
# apply step and the report (as the role's validate entry point does).
PREFLIGHT_ON_SHADOWED = "ignore"

ARGUMENT_SPEC = dict(sysctl=dict(type="dict"), sockets=dict(type="dict"))
# The socket part takes keepalive_sockets_info's gathering options and what the judge on the
# controller will need read (``_sockets_info.observation_wanted``).
SOCKETS_SPEC = dict(
    _observe.GATHER_SPEC,
    crossing=dict(type="bool", default=False),
    sshd=dict(type="bool", default=False),
)
# Each part's options, checked by an argument spec (the sysctl part's is keepalive_sysctl's
# own), and the stage a bad one fails in: the sysctl options as the preflight, as the role
# reports it.
PARTS = {
    "sysctl": (_params.argument_spec(), "preflight"),
    "sockets": (SOCKETS_SPEC, "sockets"),
}


def module_kwargs():
    return dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def audit(params, want_diff=False, root="/"):
    """``(result, warnings)`` for the validated module ``params``.

    ``result`` has ``sysctl`` (keepalive_sysctl's result in check mode) or ``sysctl_error``
    (its message when the apply step would fail: the role records it in the report, as it
    does for its apply step), and ``sockets`` (``_observe.observe``: what
    ``_sockets_info.judge`` turns into keepalive_sockets_info's result); a part whose options
    are null is left out. Raises ``KeepaliveError`` with ``stage=preflight`` when the
    host cannot take the values at all (nothing else is asked then), ``stage=sockets`` when
    the socket audit fails.
    """
    result, warnings = {}, []
    options = dict(
        (part, _checked(part, params[part])) for part in PARTS if params.get(part) is not None
    )
    if "sysctl" in options:
        sysctl, warnings = _sysctl_parts(options["sysctl"], want_diff, root)
        result.update(sysctl)
    if "sockets" in options:
        try:
            result["sockets"] = _observed(options["sockets"])
        except KeepaliveError as exc:
            raise KeepaliveError(str(exc), **dict(exc.details, stage="sockets"))
    return result, warnings


def _observed(options):
    _observe.check_platform()
    _observe.check_options(options)
    wanted = dict((key, options.pop(key)) for key in ("crossing", "sshd"))
    return dict(_observe.observe(options, **wanted), changed=False)


def _checked(part, given):
    """``given`` with the defaults of the part's module applied; a bad option raises, naming
    the part and the option as that module would."""
    spec, stage = PARTS[part]
    checked = ArgumentSpecValidator(spec).validate(given)
    if checked.error_messages:
        raise KeepaliveError(
            "%s: %s" % (part, "; ".join(checked.error_messages)), option=part, stage=stage
        )
    return checked.validated_parameters


def _sysctl_parts(options, want_diff, root):
    preflight = dict(options, on_shadowed=PREFLIGHT_ON_SHADOWED)
    try:
        checked, warnings = _converge.converge(preflight, check_mode=True, root=root)
    except KeepaliveError as exc:
        raise KeepaliveError(str(exc), **dict(exc.details, stage="preflight"))
    # on_shadowed acts only on keys that shadow ours: without any, or when it is the
    # preflight's own, the apply step would return what the preflight did.
    if not want_diff and (
        options.get("on_shadowed") == PREFLIGHT_ON_SHADOWED or not checked["shadowed_by"]
    ):
        return {"sysctl": checked}, warnings
    try:
        applied, warnings = _converge.converge(
            options, check_mode=True, want_diff=want_diff, root=root
        )
    except KeepaliveError as exc:
        return {"sysctl_error": str(exc)}, warnings
    return {"sysctl": applied}, warnings

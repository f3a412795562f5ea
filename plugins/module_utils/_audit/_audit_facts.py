# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_audit_facts: what the role's audit learns from a host, in one module call.

This module_util is private to the netstack.keepalive collection; it may change at any time.

An audit used to send three modules to every host: keepalive_sysctl in check mode as the
preflight (``on_shadowed=ignore``), again in check mode as the apply step (with the user's
``on_shadowed``), then keepalive_sockets_info. ``audit(params)`` runs the same three with the
same code (``_sysctl._converge.converge`` in check mode, ``_sockets._sockets_info.report``) on
their own option sets, so each part's result is the one its module gives, and the controller
builds the same host report from them. Nothing changes on the host: both sysctl passes plan
in check mode and the socket audit only reads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _sockets_info,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import (
    _converge,
    _params,
)

# The preflight asks only whether the host can take the values: shadowing is judged by the
# apply step and the report (as the role's validate entry point does).
PREFLIGHT_ON_SHADOWED = "ignore"

ARGUMENT_SPEC = dict(
    sysctl=dict(type="dict", options=_params.argument_spec()),
    sockets=dict(type="dict", options=_sockets_info.ARGUMENT_SPEC),
)


def module_kwargs():
    return dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def audit(params, want_diff=False, root="/"):
    """``(result, warnings)`` for the validated module ``params``.

    ``result`` has ``sysctl`` (keepalive_sysctl's result in check mode) or ``sysctl_error``
    (its message when the apply step would fail: the role records it in the report, as it
    does for its apply step), and ``sockets`` (keepalive_sockets_info's result); a part whose
    options are null is left out. Raises ``KeepaliveError`` with ``stage=preflight`` when the
    host cannot take the values at all (nothing else is asked then), ``stage=sockets`` when
    the socket audit fails.
    """
    result, warnings = {}, []
    if params.get("sysctl") is not None:
        sysctl, warnings = _sysctl_parts(params["sysctl"], want_diff, root)
        result.update(sysctl)
    if params.get("sockets") is not None:
        try:
            result["sockets"] = dict(_sockets_info.report(params["sockets"]), changed=False)
        except KeepaliveError as exc:
            raise KeepaliveError(str(exc), **dict(exc.details, stage="sockets"))
    return result, warnings


def _sysctl_parts(options, want_diff, root):
    preflight = dict(options, on_shadowed=PREFLIGHT_ON_SHADOWED)
    try:
        checked, warnings = _converge.converge(preflight, check_mode=True, root=root)
    except KeepaliveError as exc:
        raise KeepaliveError(str(exc), **dict(exc.details, stage="preflight"))
    if options.get("on_shadowed") == PREFLIGHT_ON_SHADOWED and not want_diff:
        return {"sysctl": checked}, warnings
    try:
        applied, warnings = _converge.converge(
            options, check_mode=True, want_diff=want_diff, root=root
        )
    except KeepaliveError as exc:
        return {"sysctl_error": str(exc)}, warnings
    return {"sysctl": applied}, warnings

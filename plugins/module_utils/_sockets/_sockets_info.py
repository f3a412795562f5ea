# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec and result of the keepalive_sockets_info module.

This module_util is private to the netstack.keepalive collection; it may change at any time.

``report(params)`` is the whole module minus AnsibleModule: ``_observe.observe`` reads the
host (audit, filter, summarise), ``judge`` checks what it read against ``require`` and the
path. The audit's one-call module observes on the host and the keepalive_audit action judges
on the controller, with the same two functions. It only reads; ``changed`` is always False,
so check mode needs nothing special.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _observe,
    _services,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets._adoption_checks import (
    normalize_require,
    path_verdicts,
    require_verdicts,
    required_heartbeats,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._heartbeat import (
    normalize_heartbeats,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    identify,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation_containers,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._engine import (
    resolve_path,
    resolve_profile,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._verdicts import summarize

ARGUMENT_SPEC = dict(
    _observe.GATHER_SPEC,
    require=dict(type="list", elements="raw", default=[]),
    path=dict(type="list", elements="raw", default=[]),
    profile=dict(type="raw"),
    profiles=dict(type="dict"),
    heartbeats=dict(type="list", elements="raw", default=[]),
)


def module_kwargs():
    return dict(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def check_policy_options(params):
    """``require``, ``heartbeats``, ``path``, ``profile`` and ``profiles`` as the checks read
    them; a bad one is an error naming it. Pure: the controller runs it before asking a host."""
    normalize_require(params.get("require"))
    normalize_heartbeats(params.get("heartbeats"))
    try:
        resolve_path(params.get("path") or [])
    except KeepaliveError as exc:
        raise KeepaliveError("path=%r: %s" % (params.get("path"), exc), option="path")
    if params.get("profile") is None and params.get("profiles") is None:
        return
    try:
        resolve_profile(
            {} if params.get("profile") is None else params["profile"], params.get("profiles")
        )
    except KeepaliveError as exc:
        raise KeepaliveError(
            "profile=%r, profiles: %s" % (params.get("profile"), exc), option="profile"
        )


def checked_policy_options(options):
    """``options`` (the judging ones, already of the right types: the controller builds them
    from checked role input) with the module's defaults for the rest, checked by
    ``check_policy_options``. Cheaper than an argument spec validator, which deep-copies
    them: the controller does this once per host."""
    unknown = sorted(set(options) - set(ARGUMENT_SPEC))
    if unknown:
        raise KeepaliveError(
            "unknown options %s; allowed: %s"
            % (", ".join(unknown), ", ".join(sorted(ARGUMENT_SPEC))),
            option=unknown[0],
        )
    params = dict((name, _default(spec)) for name, spec in ARGUMENT_SPEC.items())
    params.update(options)
    check_policy_options(params)
    return params


def _default(spec):
    default = spec.get("default")
    return list(default) if isinstance(default, list) else default


def observation_wanted(params):
    """What ``judge`` needs ``_observe.observe`` to read for ``params``: the sockets that
    cross the path when there is one, sshd's heartbeat when anything is checked."""
    checked = bool(params.get("require") or params.get("path"))
    return {"crossing": bool(params.get("path")), "sshd": checked}


def heartbeats(params, rows, sshd, degraded):
    """Declared heartbeats (``heartbeats``, then ``require`` items), then sshd's own when the
    host has sshd sockets: its effective ClientAliveInterval (``sshd``: what
    ``_observe.read_sshd_settings`` read)."""
    found = normalize_heartbeats(params.get("heartbeats")) + required_heartbeats(
        params.get("require")
    )
    if not any(identify(row["unit"], row["comm"]) == "sshd" for row in rows):
        return found
    if sshd is None or sshd["reason"] is not None:
        reason = "sshd was not asked" if sshd is None else sshd["reason"]
        degraded.append(
            "sshd's ClientAlive heartbeat not read (%s): its sockets are judged by "
            "SO_KEEPALIVE; declare it in heartbeats to judge the heartbeat" % reason
        )
        return found
    beat = _services.sshd_heartbeat(sshd["settings"])
    return found if beat is None else found + [beat]


def judge(observed, params):
    """The module result (without ``changed``): ``observed`` (``_observe.observe`` for
    ``params``, with ``observation_wanted``) without the judge's own keys, with the
    heartbeats, the verdicts of ``require`` and the path, and their summary."""
    result = dict(
        (key, value) for key, value in observed.items() if key not in _observe.OBSERVED_KEYS
    )
    result["degraded"] = list(observed["degraded"])
    unfiltered = observed.get("unfiltered", observed["summary"])
    checks = []
    beats = []
    if params.get("require") or params.get("path"):
        beats = heartbeats(params, unfiltered, observed.get("sshd"), result["degraded"])
        result["heartbeats"] = beats
    if params.get("require"):
        checks += require_verdicts(unfiltered, params["require"], params["states"], beats)
    if params.get("path"):
        checks += path_verdicts(
            observed["crossing"],
            params["path"],
            params.get("profile"),
            params.get("profiles"),
            namespaces=observed["namespaces"],
            heartbeats=beats,
            container_advice=_remediation_containers.container_advice,
        )
    if params.get("path") or params.get("profile") is not None:
        checks += _remediation_containers.namespace_verdicts(
            observed["namespaces"],
            params.get("path") or [],
            params.get("profile"),
            params.get("profiles"),
        )
    if checks:
        result["verdicts"] = checks
        result["verdict_summary"] = summarize(checks)
    return result


def report(params, read_sshd=_services.read_sshd):
    """The module result (without ``changed``) for validated ``params``."""
    _observe.check_platform()
    _observe.check_options(params)
    check_policy_options(params)
    observed = _observe.observe(params, read_sshd=read_sshd, **observation_wanted(params))
    return judge(observed, params)

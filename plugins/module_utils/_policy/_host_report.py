# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's two decisions: what to set (plan) and how the host stands (host report).

This module_util is private to the netstack.keepalive collection; it may change at any time.
Pure Python, no I/O. The role calls these through the filters ``keepalive_plan`` and
``keepalive_host_report`` so that no decision is taken in Jinja.

The host report (schema 1) is the fact ``tcp_keepalive_report``; docs/report.md describes
it and the fleet report is built from it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _engine as policy
from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
    _remediation_containers,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    FAIL_ON,
    OPTION_OF,
    fails_gate,
    is_integer,
    short_names,
)

SCHEMA = 1
SHADOW_STATUS = {"fail": policy.FAIL, "warn": policy.WARN, "ignore": policy.PASS}


def plan_values(profile, path=None, profiles=None, middlebox_check=True):
    """Values to set for ``profile`` on ``path``, or the reason they must not be set.

    ``error`` is set when no values satisfy the profile on the path, or when the profile's
    explicit values fail it. Never raises for those: audit mode must still report the host.
    Input that is simply wrong (an unknown profile or catalog id) raises ``KeepaliveError``.
    """
    checked_path = list(path or []) if middlebox_check else []
    boxes = policy.resolve_path(path or [])  # a typo is an error even when not checked
    result = {
        "profile": profile if isinstance(profile, str) else "inline",
        "path": [box.to_dict() for box in boxes],
        "checked_path": checked_path,
        "profiles": profiles or {},
        # What the policy engine is asked again in the host report: the name, or the inline
        # mapping itself (its name "inline" is only a label).
        "profile_spec": profile,
        "intended": None,
        "provenance": None,
        "error": None,
    }
    try:
        derived = policy.derive(profile, checked_path, profiles)
    except KeepaliveError as exc:
        if "conflicts" not in exc.details:
            raise
        result["error"] = str(exc)
        return result
    result["profile"] = derived["profile"]
    result["intended"] = dict(derived["values"])
    result["provenance"] = dict(derived["provenance"])
    proposal = derived["retries2"]
    if proposal is not None:
        # Only when the profile asks (detect_busy_within): the role then passes tcp_retries2.
        result["intended"]["retries2"] = proposal["value"]
        result["provenance"]["retries2"] = {
            "value": proposal["value"],
            "origin": proposal["origin"],
            "reason": "%s; %s" % (proposal["reason"], proposal["scope"]),
        }
    if derived["violations"]:
        # Explicit values that break the profile's own requirements or the path: enforce
        # mode must not apply them, audit mode reports them.
        result["error"] = "profile %r: its values fail the policy: %s" % (
            derived["profile"],
            "; ".join(item["message"] for item in derived["violations"]),
        )
    return result


def _values_by_short_name(sysctl_values):
    """keepalive_sysctl's ``{tcp_keepalive_time: 1, ...}`` -> ``{time: 1, ...}``, or None
    unless all three are integers."""
    values = short_names(sysctl_values or {})
    complete = len(values) == len(OPTION_OF) and all(map(is_integer, values.values()))
    return values if complete else None


def _retries2(sysctl, audit):
    """The namespace's tcp_retries2 as keepalive_sysctl read (audit) or left it; None when
    the module did not report it (the kernel default is then assumed)."""
    values = (sysctl or {}).get("before" if audit else "after") or {}
    value = values.get(policy.RETRIES2_OPTION)
    return value if is_integer(value) else None


def _user_timeout(plan_result):
    """The TCP_USER_TIMEOUT the host's profile expects the applications to set, or None."""
    if plan_result["error"] is not None:
        return None
    spec = plan_result.get("profile_spec", plan_result["profile"])
    return policy.resolve_profile(spec, plan_result["profiles"])["user_timeout"]


def _boot_values(sysctl, audit):
    """Boot values with their source; an audit wants the ones the disk gives now."""
    sysctl = sysctl or {}
    boot = (sysctl.get("boot_values_before") if audit else None) or sysctl.get("boot_values")
    return {
        name: {"value": boot[option].get("value"), "source": boot[option].get("source")}
        for name, option in OPTION_OF.items()
        if option in (boot or {})
    }


def host_report(
    plan_result,
    host,
    mode="enforce",
    check_mode=False,
    sysctl=None,
    sysctl_error=None,
    sockets=None,
    fail_on="fail",
    on_shadowed="fail",
    persist=True,
):
    """The host's report: values, boot values, shadowing, adoption and every verdict.

    An audit judges the values the host has now. Enforce mode judges the values the host has
    after the run: under ``--check`` those it would have, so a dry run previews the verdicts.
    """
    if fail_on not in FAIL_ON:
        raise KeepaliveError(
            "fail_on=%r: allowed values are %s" % (fail_on, ", ".join(FAIL_ON)), option="fail_on"
        )
    audit = mode == "audit"
    sysctl = sysctl if isinstance(sysctl, dict) and "before" in sysctl else None
    runtime = _values_by_short_name((sysctl or {}).get("before"))
    after = runtime if audit else _values_by_short_name((sysctl or {}).get("after"))
    boot = _boot_values(sysctl, audit)
    retries2 = _retries2(sysctl, audit)
    found = []
    found += _plan_verdicts(plan_result)
    if sysctl_error:
        found.append(policy.make_verdict("apply", host, policy.FAIL, None, None, sysctl_error))
    if after is not None:
        found += _value_verdicts(plan_result, after, retries2)
        shadowed = bool((sysctl or {}).get("shadowed_by"))
        boot_status = _boot_status(audit, persist, on_shadowed if shadowed else None)
        found += _drift_verdicts(plan_result["intended"], after, boot, audit, boot_status)
    found += _shadow_verdicts((sysctl or {}).get("shadowed_by") or [], on_shadowed)
    found += _adoption_verdicts(sockets)
    # The problem lines say how to fix a socket group where the audit found the knob.
    summary = policy.summarize([_with_fix(item) for item in found])
    return {
        "schema": SCHEMA,
        "host": host,
        "mode": mode,
        "check_mode": bool(check_mode),
        "profile": plan_result["profile"],
        "path": plan_result["path"],
        "intended": plan_result["intended"],
        "provenance": plan_result["provenance"],
        "derivation_error": plan_result["error"],
        "runtime": runtime,
        "after": after,
        "boot_values": boot,
        "shadowed_by": (sysctl or {}).get("shadowed_by") or [],
        "file": (sysctl or {}).get("file"),
        "changed": bool((sysctl or {}).get("changed")),
        "detection_seconds": None if after is None else policy.detection_time(after),
        # Idle: time + intvl x probes (what detection_seconds has always been). Busy: data in
        # flight, decided by tcp_retries2 (``retries2``; null: not read, 15 assumed) or the
        # profile's user_timeout. docs/policy.md, "Idle and busy connections".
        "detection_idle_seconds": None if after is None else policy.detection_time(after),
        "detection_busy_seconds": None if after is None else _busy_seconds(plan_result, retries2),
        "retries2": retries2,
        "adoption": _adoption(sockets),
        # Namespaces that containers and pods own (a new one starts from the kernel defaults
        # and the host's sysctl never reaches it): their values, the host's, the profile's,
        # and the runtime's own setting when they differ. Their verdicts come with sockets.
        "containers": _remediation_containers.container_namespaces(
            sockets.get("namespaces") if isinstance(sockets, dict) else None,
            plan_result["intended"],
        ),
        # Sockets waiting on a silent peer right now (suspect dead peers), from the sockets
        # audit's summary rows; null when the audit did not run or its rows lack the count.
        "sockets_retransmitting": _stalled(sockets, "retransmitting"),
        "sockets_probing": _stalled(sockets, "probing"),
        "verdicts": found,
        "status": summary["status"],
        "counts": summary["counts"],
        "problems": summary["problems"],
        "fails_host": fails_gate(summary["status"], fail_on),
    }


def _plan_verdicts(plan_result):
    if plan_result["error"] is None:
        return []
    verdict = policy.make_verdict(
        "profile_feasible", plan_result["profile"], policy.FAIL, None, None, plan_result["error"]
    )
    return [verdict]


def _value_verdicts(plan_result, values, retries2=None):
    """Policy verdicts on the values the host has (or will have) at runtime."""
    profile = None
    if plan_result["error"] is None:
        profile = plan_result.get("profile_spec", plan_result["profile"])
    return policy.verdicts(
        values,
        plan_result["checked_path"],
        profile,
        profiles=plan_result["profiles"],
        retries2=retries2,
    )


def _busy_seconds(plan_result, retries2):
    try:
        return policy.busy_figures(retries2, _user_timeout(plan_result))["detection"]
    except KeepaliveError:
        return None  # a tcp_retries2 out of range: the busy_detection verdict says so


def _boot_status(audit, persist, on_shadowed):
    """Status of a boot value that is not the intended one.

    After an enforce run the next reboot would undo the tuning: a failure, unless persist is
    off (a warning) or the cause is another file shadowing ours (``on_shadowed`` given),
    whose status the user chose with tcp_keepalive_on_shadowed.
    """
    if audit or not persist:
        return policy.WARN
    return SHADOW_STATUS.get(on_shadowed, policy.FAIL)


def _drift_verdicts(intended, after, boot, audit, boot_status):
    """Runtime and boot values against the intended ones.

    Runtime drift is a warning: an audit changes nothing, and enforce mode only leaves it
    when the user turned apply off. A boot value that is not the intended one gets
    ``boot_status`` (see ``_boot_status``).
    """
    if intended is None:
        return []
    why_left = "an audit changes nothing" if audit else "apply is off"
    found = []
    for name in policy.VALUE_NAMES:
        sysctl = policy.SYSCTL_NAMES[name]
        wanted, now = intended[name], after[name]
        if now != wanted:
            message = "runtime %s=%s, the profile wants %s (%s)" % (sysctl, now, wanted, why_left)
            found.append(
                policy.make_verdict("runtime_value", sysctl, policy.WARN, now, wanted, message)
            )
        if name not in boot or boot[name]["value"] == wanted:
            continue
        at_boot, source = boot[name]["value"], boot[name]["source"]
        message = "after a reboot %s=%s (from %s), the profile wants %s" % (
            sysctl,
            at_boot,
            source,
            wanted,
        )
        found.append(
            policy.make_verdict("boot_value", sysctl, boot_status, at_boot, wanted, message)
        )
    return found


def _shadow_verdicts(shadowed_by, on_shadowed):
    status = SHADOW_STATUS.get(on_shadowed, policy.FAIL)
    return [_shadow_verdict(entry, status) for entry in shadowed_by]


def _shadow_verdict(entry, status):
    """A file applied after ours at boot: one that sets our key, or one that masks our file."""
    where = "%s:%s" % (entry.get("file"), entry.get("line"))
    if entry.get("key"):
        message = "%s sets %s=%s and is applied after our file at boot" % (
            entry.get("file"),
            entry.get("key"),
            entry.get("value"),
        )
    else:
        message = "%s masks our file at boot" % entry.get("file")
    return policy.make_verdict("shadowed", where, status, entry.get("value"), None, message)


def _adoption(sockets):
    if not isinstance(sockets, dict) or "summary" not in sockets:
        return None
    return {
        "summary": sockets.get("summary") or [],
        "namespaces": sockets.get("namespaces") or [],
        "degraded": sockets.get("degraded") or [],
    }


def _stalled(sockets, key):
    """The sum of ``key`` over the summary rows, or None when a row does not count it."""
    if not isinstance(sockets, dict) or "summary" not in sockets:
        return None
    total = 0
    for row in sockets.get("summary") or []:
        value = row.get(key) if isinstance(row, dict) else None
        if not is_integer(value) or value < 0:
            return None
        total += value
    return total


def _with_fix(verdict):
    advice = verdict.get("advice")
    if not isinstance(advice, dict) or not advice.get("set"):
        return verdict
    fix = "; how to fix: %s (%s: %s)" % (advice["set"], advice.get("service"), advice.get("where"))
    return dict(verdict, message=verdict["message"] + fix)


def _adoption_verdicts(sockets):
    if not isinstance(sockets, dict):
        return []
    return [item for item in sockets.get("verdicts") or [] if isinstance(item, dict)]

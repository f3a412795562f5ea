# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keepalive policy engine: profiles + path -> values, values + path -> verdicts.

This module_util is private to the netstack.keepalive collection; it may change at any time.
Pure Python, no I/O: the role, the modules and the filter plugins call the same functions.

Stable API (import from here, not from the helper files):

- ``KERNEL_LIMITS`` ``{name: (min, max)}``, ``LINUX_DEFAULTS`` 7200/75/9, ``VALUE_NAMES``,
  ``SYSCTL_NAMES``, ``DEFAULT_MARGIN`` (30 s), ``DEFAULT_TOLERATE_OUTAGE`` (30 s),
  ``BUILTIN_PROFILES``, ``CATALOG`` ``{id: CatalogEntry}``.
- ``validate_values(values, partial=False, option="values") -> dict``: integers (booleans
  refused) within the kernel limits, else ``KeepaliveError`` naming option, value and range.
- ``resolve_profile(profile_or_name, profiles=None) -> dict``: a checked profile
  ``{name, description, values, detect_within, tolerate_outage, margin, defaults_used}``.
- ``profile_names(profiles=None) -> list``.
- ``catalog_entry(entry_id) -> dict``; ``catalog_ids() -> list``.
- ``resolve_path(items, catalog=None) -> list[Middlebox]``; ``Middlebox.to_dict()``.
- ``derive(profile, path, profiles=None) -> dict``: ``values`` ({time, intvl, probes}),
  ``sysctl_args`` (the same as keepalive_sysctl options, with ``tcp_retries2`` when one is
  proposed), per-value ``provenance``, the ``requirements`` used, ``detection_idle`` and
  ``detection_busy`` (s), ``retries2`` (the proposal, or None), ``verdicts``,
  ``violations``, ``summary``; ``KeepaliveError`` when no values can satisfy the
  requirements and the path.
- ``verdicts(values, path, profile=None, socket_count=None, profiles=None,
  probe_rate_warn=1000) -> list[dict]``; ``idle_verdicts(time, path, margin=30)``.
- ``recommended_heartbeat(path, detect_within=None) -> (seconds | None, basis)``.
- ``detection_time(values) -> int``; ``summarize(verdicts) -> {status, counts, total,
  problems}``; ``make_verdict(check, subject, status, value, limit, message)`` (the one shape
  of a verdict, for checks other modules add); ``PASS``, ``WARN``, ``FAIL``, ``STATUSES``.
- Path helpers: ``layer4(boxes)``, ``layer7(boxes)``, ``smallest_timeout(boxes)``,
  ``latest_first_probe(box, margin)`` (largest time that keeps the margin, None if unknown).

Derivation strategy (see docs/policy.md):
1. Requirements first: if the smallest known layer-4 idle timeout minus the margin, or
   ``detect_within`` minus ``tolerate_outage``, leaves less than the kernel minimum of 1 s
   for ``time``, no values can work: raise, naming the constraints and the gap in seconds.
2. Probe window ``intvl x probes``: as small as ``tolerate_outage`` allows (the rest of the
   detection budget goes to ``time``), with 3 probes preferred (one lost probe or ACK is
   not fatal, few probes per dead peer), then 4, 5, 2, 6, 1 and the rest.
3. ``time``: the largest value that fits every bound: below the smallest layer-4 timeout
   minus the margin, within ``detect_within`` minus the window, and no more than the Linux
   default 7200 s (RFC 1122: probe no sooner than two hours unless there is a reason).
4. ``tcp_retries2``, only when the profile sets ``detect_busy_within`` and no
   ``user_timeout``: the smallest value whose busy detection is within it while a blip of
   ``tolerate_outage`` cannot drop a connection with data in flight
   (``_detection.smallest_retries2``); it applies to every connection of the namespace.
Explicit values are never changed; if they break a constraint the result lists the failing
verdicts under ``violations``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._catalog import (
    CATALOG,
    catalog_ids,
    get_entry,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._detection import (
    smallest_retries2,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import (
    Middlebox,
    latest_first_probe,
    layer4,
    layer7,
    resolve_path,
    smallest_timeout,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import (
    BUILTIN_PROFILES,
    DEFAULT_MARGIN,
    DEFAULT_TOLERATE_OUTAGE,
    profile_names,
    resolve_profile,
    validate_values,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._params import (
    RETRIES2_MIN,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._verdicts import (
    BUSY_WARN_RATIO,
    DEFAULT_PROBE_RATE_WARN,
    busy_figures,
    idle_verdicts,
    judge_busy,
    recommended_heartbeat,
    summarize,
    verdicts,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    FAIL,
    KERNEL_LIMITS,
    LINUX_DEFAULTS,
    LINUX_RETRIES2,
    OPTION_OF,
    PASS,
    RETRIES2_OPTION,
    STATUSES,
    SYSCTL_NAMES,
    VALUE_NAMES,
    WARN,
    detection_time,
    make_verdict,
    probe_window,
)

# The stable API: everything callers may import from here (re-exports included).
__all__ = [
    "BUILTIN_PROFILES",
    "BUSY_WARN_RATIO",
    "LINUX_RETRIES2",
    "RETRIES2_OPTION",
    "CATALOG",
    "DEFAULT_MARGIN",
    "DEFAULT_PROBE_RATE_WARN",
    "DEFAULT_TOLERATE_OUTAGE",
    "FAIL",
    "KERNEL_LIMITS",
    "LINUX_DEFAULTS",
    "PASS",
    "STATUSES",
    "SYSCTL_NAMES",
    "VALUE_NAMES",
    "WARN",
    "KeepaliveError",
    "Middlebox",
    "busy_figures",
    "catalog_entry",
    "catalog_ids",
    "derive",
    "detection_time",
    "idle_verdicts",
    "judge_busy",
    "latest_first_probe",
    "layer4",
    "layer7",
    "make_verdict",
    "profile_names",
    "recommended_heartbeat",
    "resolve_path",
    "resolve_profile",
    "smallest_timeout",
    "summarize",
    "validate_values",
    "verdicts",
]

# 3 first: one lost probe or ACK is survived, yet a dead peer costs few probes.
PREFERRED_PROBES = (3, 4, 5, 2, 6, 1) + tuple(range(7, KERNEL_LIMITS["probes"][1] + 1))
EXPLICIT = "explicit"
DERIVED = "derived"
RETRIES2_SCOPE = (
    "net.ipv4.tcp_retries2 applies to every connection of the network namespace, not only "
    "to the keepalive ones"
)


def catalog_entry(entry_id):
    """The catalog entry ``entry_id`` as plain data (``KeepaliveError`` with close matches)."""
    return get_entry(entry_id).to_dict()


def derive(profile, path, profiles=None):
    """Values for ``profile`` on ``path`` with the reason for each; see the module doc."""
    prof = resolve_profile(profile, profiles)
    boxes = resolve_path(path)
    limiting = smallest_timeout(layer4(boxes))
    _check_feasible(prof, limiting)
    explicit = prof["values"]
    window, window_reason = _choose_window(prof, explicit)
    time, time_reason = _choose_time(prof, explicit, limiting, window)
    time_reason += _unknown_note(boxes)
    values = {"time": time, "intvl": window[0], "probes": window[1]}
    reasons = {"time": time_reason, "intvl": window_reason, "probes": window_reason}
    provenance = {name: _origin(prof, name, values[name], reasons[name]) for name in VALUE_NAMES}
    retries2 = _propose_retries2(prof)
    checks = verdicts(values, boxes, prof, retries2=None if retries2 is None else retries2["value"])
    sysctl_args = {OPTION_OF[name]: values[name] for name in VALUE_NAMES}
    if retries2 is not None:
        sysctl_args[RETRIES2_OPTION] = retries2["value"]
    busy = busy_figures(None if retries2 is None else retries2["value"], prof["user_timeout"])
    return {
        "profile": prof["name"],
        "values": values,
        # Jinja reads result.values as dict.values(): this key works as result.sysctl_args,
        # and is exactly the options of the keepalive_sysctl module.
        "sysctl_args": sysctl_args,
        "provenance": provenance,
        "requirements": {key: prof[key] for key in ("detect_within", "tolerate_outage", "margin")},
        "busy_requirements": {key: prof[key] for key in ("detect_busy_within", "user_timeout")},
        "defaults_used": prof["defaults_used"],
        "detection_time": detection_time(values),
        "detection_idle": float(detection_time(values)),
        "detection_busy": busy["detection"],
        "retries2": retries2,
        "limiting_box": None if limiting is None else limiting.to_dict(),
        "path": [box.to_dict() for box in boxes],
        "verdicts": checks,
        "violations": [item for item in checks if item["status"] == FAIL],
        "summary": summarize(checks),
    }


def _propose_retries2(prof):
    """``{value, origin, reason, scope, detection, tolerates}`` or None when not asked.

    Asked by ``detect_busy_within``; a profile with ``user_timeout`` says the applications
    bound busy connections themselves (the kernel then ignores tcp_retries2 for them), so
    nothing is proposed. ``KeepaliveError`` with ``conflicts`` when no value fits.
    """
    wanted = prof["detect_busy_within"]
    if wanted is None or prof["user_timeout"] is not None:
        return None
    try:
        # Never below what keepalive_sysctl accepts (it refuses 0..2).
        found = smallest_retries2(wanted, prof["tolerate_outage"], lowest=RETRIES2_MIN)
    except KeepaliveError as exc:
        raise KeepaliveError(
            "profile %r: %s" % (prof["name"], exc),
            profile=prof["name"],
            conflicts=[str(exc)],
        )
    return {
        "value": found["retries2"],
        "origin": DERIVED,
        "reason": found["reason"],
        "scope": RETRIES2_SCOPE,
        "detection": found["detection"],
        "tolerates": found["tolerates"],
    }


def _origin(prof, name, value, reason):
    if name in prof["values"]:
        return {"value": value, "origin": EXPLICIT, "reason": "set in profile %r" % prof["name"]}
    return {"value": value, "origin": DERIVED, "reason": reason}


def _check_feasible(prof, limiting):
    """Raise when the requirements and the path leave no room for any ``time``."""
    conflicts = []
    room = None if limiting is None else latest_first_probe(limiting, prof["margin"])
    if room is not None and room < 1:
        conflicts.append(
            "time <= smallest layer-4 idle timeout - margin: %s s (%s) - %s s = %s s, below "
            "the kernel minimum of 1 s: short by %s s"
            % (limiting.idle_timeout, limiting.id, max(prof["margin"], 1), room, 1 - room)
        )
    detect, tolerate = prof["detect_within"], prof["tolerate_outage"]
    if detect is not None and detect - tolerate < 1:
        conflicts.append(
            "intvl x probes >= tolerate_outage (%s s) and time + intvl x probes <= "
            "detect_within (%s s) leave %s s for time, below the kernel minimum of 1 s: short "
            "by %s s" % (tolerate, detect, detect - tolerate, 1 - (detect - tolerate))
        )
    if conflicts:
        raise KeepaliveError(
            "profile %r: no keepalive values satisfy all constraints: %s"
            % (prof["name"], "; ".join(conflicts)),
            profile=prof["name"],
            conflicts=conflicts,
        )


def _window_budget(prof, explicit):
    """Most seconds the probe window may take within ``detect_within`` (None: no bound)."""
    if prof["detect_within"] is None:
        return None
    return prof["detect_within"] - explicit.get("time", 1)


def _windows(tolerate):
    """``(intvl, probes)`` covering ``tolerate`` with the fewest seconds, preferred first."""
    for probes in PREFERRED_PROBES:
        intvl = _covering(tolerate, probes)
        if intvl <= KERNEL_LIMITS["intvl"][1]:
            yield intvl, probes


def _covering(tolerate, factor):
    """The smallest other factor (at least 1) that makes ``factor x it >= tolerate``."""
    return max(1, -(-tolerate // factor))  # ceiling division on integers


def _choose_window(prof, explicit):
    """Pick ``(intvl, probes)`` with ``intvl x probes >= tolerate_outage``, as small as fits."""
    tolerate = prof["tolerate_outage"]
    budget = _window_budget(prof, explicit)
    max_intvl, max_probes = KERNEL_LIMITS["intvl"][1], KERNEL_LIMITS["probes"][1]
    if "intvl" in explicit and "probes" in explicit:
        return (explicit["intvl"], explicit["probes"]), "set in profile %r" % prof["name"]
    if "intvl" in explicit:
        intvl = explicit["intvl"]
        probes = min(max_probes, _covering(tolerate, intvl))
        reason = "fewest probes at intvl=%s s covering tolerate_outage %s s" % (intvl, tolerate)
        return (intvl, probes), reason
    if "probes" in explicit:
        probes = explicit["probes"]
        intvl = min(max_intvl, _covering(tolerate, probes))
        reason = "shortest intvl with probes=%s covering tolerate_outage %s s" % (probes, tolerate)
        return (intvl, probes), reason
    fits = _windows(tolerate)
    if budget is not None:
        fits = (c for c in fits if probe_window(*c) <= budget)
    chosen = next(fits, None)
    # Explicit time may leave too little budget: keep the tolerance, the detection verdict fails.
    intvl, probes = chosen or min(_windows(tolerate), key=lambda c: probe_window(*c))
    window = probe_window(intvl, probes)
    short = "" if chosen else "; the explicit time leaves less than that within detect_within"
    reason = (
        "probe window %s x %s = %s s: the smallest covering tolerate_outage %s s with %s probes "
        "(3 preferred)%s" % (probes, intvl, window, tolerate, probes, short)
    )
    return (intvl, probes), reason


def _unknown_note(boxes):
    """Layer-4 boxes without a figure bound nothing; say so where the reader looks."""
    unknown = [box.id for box in layer4(boxes) if box.idle_timeout is None]
    if not unknown:
        return ""
    return "; not bounded by %s (no known idle timeout: see the middlebox_idle warning)" % (
        ", ".join(unknown)
    )


def _choose_time(prof, explicit, limiting, window):
    """The largest ``time`` under every bound; the reason names the bound that binds."""
    if "time" in explicit:
        return explicit["time"], "set in profile %r" % prof["name"]
    linux_default = LINUX_DEFAULTS["time"]
    bounds = [(linux_default, "the Linux default %s s (no tighter bound applies)" % linux_default)]
    if limiting is not None:
        box = "%s s (%s, %s: %s)" % (
            limiting.idle_timeout,
            limiting.id,
            limiting.origin,
            limiting.source,
        )
        reason = "smallest layer-4 idle timeout on the path %s minus margin %s s" % (
            box,
            max(prof["margin"], 1),
        )
        bounds.append((latest_first_probe(limiting, prof["margin"]), reason))
    if prof["detect_within"] is not None:
        window_seconds = probe_window(*window)
        reason = "detect_within %s s minus the probe window %s s" % (
            prof["detect_within"],
            window_seconds,
        )
        bounds.append((prof["detect_within"] - window_seconds, reason))
    time, reason = min(bounds, key=lambda bound: bound[0])
    low, high = KERNEL_LIMITS["time"]
    return max(low, min(high, time)), "largest time that fits: %s" % reason

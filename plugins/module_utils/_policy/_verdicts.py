# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verdicts: keepalive values checked against a path and a profile (pure Python, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.
Use it through ``_policy`` (the stable list of functions lives there).

A verdict is data: ``{check, subject, status, value, limit, message}`` with status ``pass``,
``warn`` or ``fail``. Checks:

- ``kernel_limits`` (subject time/intvl/probes): inside 1..32767 / 1..32767 / 1..127.
- ``middlebox_idle`` (subject: each layer-4 box): the first probe must leave before the box
  drops the idle connection: fail if ``time >= idle_timeout``, warn if it leaves within the
  margin, warn if the box has no known figure (never a silent pass). A box whose ``effect``
  at expiry usually keeps the flow working (a re-hash: ``_catalog.SURVIVABLE_EFFECTS``)
  warns instead of failing. A retired product warns even when the probe is in time.
- ``application_heartbeat`` (subject: each layer-7 box): always warn; kernel keepalive does
  not reset a proxy's timer. ``limit`` is the recommended heartbeat interval: a third of the
  smallest proxy timeout or of ``detect_within``, whichever is smaller.
- ``detection_time`` (subject ``peer``): ``time + intvl * probes`` vs ``detect_within``: when
  the connection is idle (keepalive never probes while data is unacknowledged).
- ``busy_detection`` (subject ``peer``): when a dead peer is noticed with data in flight
  (``_detection.detection_busy`` of the namespace's ``tcp_retries2``, the kernel default 15
  when unknown, or of the profile's ``user_timeout``). With ``detect_busy_within``: pass
  within it, fail over it. Without: warn when it exceeds ``BUSY_WARN_RATIO`` (10) times
  ``detect_within``, pass otherwise. Either way warn when a blip shorter than
  ``tolerate_outage`` can drop a busy connection (``earliest_busy_drop``). ``judge_busy``
  holds the rule; keepalive_sockets_info applies it to each socket group too.
- ``outage_tolerance`` (subject ``network``): ``intvl * probes`` vs ``tolerate_outage``;
  too small means a short blip kills idle connections (false positives).
- ``probe_rate`` (subject ``host``, only with a socket count): ``sockets / time`` probes/s;
  warn above ``probe_rate_warn``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._catalog import (
    SURVIVABLE_EFFECTS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._detection import (
    detection_busy,
    earliest_busy_drop,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import (
    latest_first_probe,
    layer4,
    layer7,
    resolve_path,
    retirement_note,
    smallest_timeout,
    unconfirmed,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import (
    DEFAULT_MARGIN,
    check_integer,
    kind,
    resolve_profile,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    FAIL,
    KERNEL_LIMITS,
    LINUX_RETRIES2,
    PASS,
    RETRIES2_LIMITS,
    STATUSES,
    VALUE_NAMES,
    WARN,
    detection_time,
    is_integer,
    make_verdict,
    probe_window,
    worst_status,
)

# Above ~1000 probes/s the kernel's timer wheel and the peers' ACKs show up in CPU profiles
# and p99 latencies; below it keepalive traffic is noise.
DEFAULT_PROBE_RATE_WARN = 1000
# Without a detect_busy_within, busy detection this many times detect_within or more is a
# warning: the profile's promise holds for idle connections only, by an order of magnitude.
# With the kernel default tcp_retries2 (about 1045 s) that is a detect_within under 105 s
# (latency_sensitive), not cloud's 300 s or database's 120 s.
BUSY_WARN_RATIO = 10


def check_value_types(values, option="values"):
    """Values read from a host may be out of range (that is a verdict), but must be integers."""
    if not isinstance(values, dict):
        raise KeepaliveError("%s must be a mapping, got %r" % (option, values), option=option)
    for name in VALUE_NAMES:
        if name not in values:
            raise KeepaliveError("%s is missing %s" % (option, name), option=option)
        value = values[name]
        if not is_integer(value):
            raise KeepaliveError(
                "%s.%s must be an integer, got %r (%s)" % (option, name, value, kind(value)),
                option="%s.%s" % (option, name),
                value=value,
            )
    return {name: values[name] for name in VALUE_NAMES}


def verdicts(
    values,
    path,
    profile=None,
    socket_count=None,
    profiles=None,
    probe_rate_warn=DEFAULT_PROBE_RATE_WARN,
    retries2=None,
):
    """Check ``values`` against ``path`` and ``profile``; return a list of verdicts.

    ``profile`` is a name, a mapping or a profile already resolved by ``resolve_profile``;
    None means no requirements beyond the defaults (tolerate_outage 30 s, margin 30 s).
    ``retries2`` is the namespace's ``net.ipv4.tcp_retries2``; None: unknown, the kernel
    default 15 is assumed (and the busy verdict says so).
    """
    values = check_value_types(values)
    prof = _profile(profile, profiles)
    boxes = resolve_path(path)
    result = kernel_limit_verdicts(values)
    result += [idle_verdict(values["time"], box, prof["margin"]) for box in layer4(boxes)]
    result += heartbeat_verdicts(boxes, prof["detect_within"])
    result.append(detection_verdict(values, prof["detect_within"]))
    result.append(outage_verdict(values, prof["tolerate_outage"]))
    result.append(busy_verdict(retries2, prof))
    if socket_count is not None:
        result.append(probe_rate_verdict(values["time"], socket_count, probe_rate_warn))
    return result


def _profile(profile, profiles):
    if isinstance(profile, dict) and "defaults_used" in profile:
        return profile  # already resolved
    return resolve_profile({} if profile is None else profile, profiles)


def kernel_limit_verdicts(values):
    result = []
    for name in VALUE_NAMES:
        low, high = KERNEL_LIMITS[name]
        value = values[name]
        ok = low <= value <= high
        where = "within" if ok else "outside"
        message = "%s=%s is %s the kernel limits %s..%s" % (name, value, where, low, high)
        if not ok:
            # Measured on Linux 6.18: the sysctl takes 0, negatives and 40000 without a word.
            message += (
                ": the sysctl accepts it, but setsockopt refuses it on a socket (bounds of "
                "include/net/tcp.h); it is a mistake, not a setting"
            )
        result.append(
            make_verdict("kernel_limits", name, PASS if ok else FAIL, value, [low, high], message)
        )
    return result


def idle_verdicts(time, path, margin=DEFAULT_MARGIN):
    """Only the ``middlebox_idle`` checks: one per layer-4 box (per-socket audits use this)."""
    return [idle_verdict(time, box, margin) for box in layer4(resolve_path(path))]


def idle_verdict(time, box, margin=DEFAULT_MARGIN):
    """Does the first probe leave before ``box`` forgets the idle connection?"""
    label = "%s (%s)" % (box.product, box.id)
    if box.idle_timeout is None:
        message = (
            "%s has no known idle timeout (%s): cannot tell whether the first probe at %s s "
            "keeps it; measure it and give it as {id: %s, idle_timeout: S}"
            % (label, box.note or box.source, time, box.id)
        )
        message += retirement_note(box)
        return make_verdict("middlebox_idle", box.id, WARN, time, None, message)
    timeout = box.idle_timeout
    limit = latest_first_probe(box, margin)
    if time >= timeout and box.effect in SURVIVABLE_EFFECTS:
        status = WARN
        message = (
            "%s forgets an idle connection after %s s, but at expiry %s; the first probe "
            "leaves at %s s: idle connections survive unless the backends change or fail "
            "over; set time <= %s s to keep them on any change"
            % (label, timeout, box.at_expiry, time, limit)
        )
    elif time >= timeout:
        status = FAIL
        message = (
            "%s drops an idle connection after %s s (at expiry: %s); the first probe leaves "
            "at %s s: idle connections through it die silently; set time <= %s s"
            % (label, timeout, box.at_expiry, time, limit)
        )
    elif time > limit:
        status = WARN
        message = (
            "the first probe at %s s leaves only %s s before %s drops an idle connection at "
            "%s s, less than the margin of %s s; set time <= %s s"
            % (time, timeout - time, label, timeout, margin, limit)
        )
    else:
        status = PASS
        message = (
            "the first probe at %s s leaves %s s before %s drops an idle connection at %s s "
            "(%s: %s)" % (time, timeout - time, label, timeout, box.origin, box.source)
        )
    if unconfirmed(box):
        message += "; the catalog figure is unconfirmed: verify it or override it"
    if box.retired and status == PASS:
        status = WARN
    message += retirement_note(box)
    return make_verdict("middlebox_idle", box.id, status, time, limit, message)


def recommended_heartbeat(boxes, detect_within=None, proxies_only=True):
    """Heartbeat interval for the proxies on a path: a third of the smallest basis.

    ``proxies_only`` False counts every box: a heartbeat is data, so it keeps layer-4 boxes
    open too (a service's own heartbeat, such as sshd's ClientAlive, must beat them all).
    Returns ``(seconds or None, basis text)``.
    """
    bases = []
    smallest = smallest_timeout(layer7(boxes) if proxies_only else boxes)
    if smallest is not None:
        basis = "the smallest %sidle timeout on the path, %s s (%s)" % (
            "proxy " if proxies_only else "",
            smallest.idle_timeout,
            smallest.id,
        )
        bases.append((smallest.idle_timeout, basis))
    if detect_within is not None:
        bases.append((detect_within, "the detection budget detect_within %s s" % detect_within))
    if not bases:
        return None, "no proxy timeout and no detect_within known"
    seconds, basis = min(bases, key=lambda item: item[0])
    return max(1, seconds // 3), "a third of %s" % basis


def heartbeat_verdicts(boxes, detect_within=None):
    proxies = layer7(boxes)
    heartbeat, basis = recommended_heartbeat(proxies, detect_within)
    result = []
    for box in proxies:
        label = "%s (%s)" % (box.product, box.id)
        if box.idle_timeout is None:
            timer = "has no known idle timeout (%s)" % (box.note or box.source)
        else:
            timer = "closes connections idle for %s s" % box.idle_timeout
        if heartbeat is None:
            advice = (
                "set its timeouts, give them as {id: %s, idle_timeout: S} and send an "
                "application heartbeat at a third of the smallest" % box.id
            )
        else:
            advice = "send an application heartbeat every %s s or less (%s)" % (heartbeat, basis)
        message = (
            "%s is a proxy and %s; kernel keepalive probes do not reset its timer, only data "
            "does: %s%s" % (label, timer, advice, retirement_note(box))
        )
        result.append(
            make_verdict(
                "application_heartbeat", box.id, WARN, box.idle_timeout, heartbeat, message
            )
        )
    return result


def detection_verdict(values, detect_within):
    seconds = detection_time(values)
    formula = "%s + %s x %s" % (values["time"], values["probes"], values["intvl"])
    if detect_within is None:
        status = PASS
        message = (
            "when idle, a dead peer is noticed after up to %s s (%s); no detect_within "
            "requirement" % (seconds, formula)
        )
    elif seconds <= detect_within:
        status = PASS
        message = (
            "when idle, a dead peer is noticed after up to %s s (%s), within detect_within %s s"
            % (seconds, formula, detect_within)
        )
    else:
        status = FAIL
        message = (
            "when idle, a dead peer is noticed only after up to %s s (%s); detect_within is "
            "%s s: over by %s s" % (seconds, formula, detect_within, seconds - detect_within)
        )
    return make_verdict("detection_time", "peer", status, seconds, detect_within, message)


def busy_figures(retries2, user_timeout=None):
    """``{retries2, assumed, user_timeout, detection, earliest, basis}`` for a busy connection.

    ``retries2`` None is unknown: the kernel default 15 is assumed. With a ``user_timeout``
    the kernel ignores ``retries2`` for those sockets. ``basis`` says what decides, in words.
    """
    assumed = retries2 is None
    used = LINUX_RETRIES2 if assumed else retries2
    if not is_integer(used) or not RETRIES2_LIMITS[0] <= used <= RETRIES2_LIMITS[1]:
        raise KeepaliveError(
            "tcp_retries2=%r: allowed an integer %s..%s" % ((used,) + RETRIES2_LIMITS),
            option="retries2",
            value=used,
        )
    if user_timeout is not None:
        basis = "TCP_USER_TIMEOUT %s s the profile expects the applications to set" % user_timeout
    elif assumed:
        basis = "the kernel default tcp_retries2 %s, not read from the host" % used
    else:
        basis = "tcp_retries2 %s" % used
    return {
        "retries2": used,
        "assumed": assumed,
        "user_timeout": user_timeout,
        "detection": detection_busy(used, user_timeout=user_timeout),
        "earliest": earliest_busy_drop(used, user_timeout=user_timeout),
        "basis": basis,
    }


def busy_verdict(retries2, prof):
    """When a dead peer is noticed while data is in flight, against the profile."""
    try:
        figures = busy_figures(retries2, prof.get("user_timeout"))
    except KeepaliveError as exc:
        return make_verdict("busy_detection", "peer", WARN, retries2, None, str(exc))
    return judge_busy(figures, prof)


def judge_busy(figures, prof, subject="peer", prefix=""):
    """The ``busy_detection`` verdict of ``figures`` (``busy_figures``) against ``prof``.

    One rule for the host and for each socket group: ``detect_busy_within`` when given,
    else a warning above ``BUSY_WARN_RATIO`` times ``detect_within``; a pass becomes a
    warning when a blip shorter than ``tolerate_outage`` can drop a busy connection.
    ``prefix`` starts the message (a socket group names itself there).
    """
    seconds, basis = figures["detection"], figures["basis"]
    wanted, idle_budget = prof.get("detect_busy_within"), prof["detect_within"]
    said = "with data in flight (keepalive does not probe), a dead peer is noticed after %s s (%s)"
    said %= (seconds, basis)
    limit = wanted
    if wanted is not None and seconds > wanted:
        status = FAIL
        message = "%s; detect_busy_within is %s s: over by %s s" % (
            said,
            wanted,
            round(seconds - wanted, 3),
        )
    elif wanted is not None:
        status, message = PASS, "%s, within detect_busy_within %s s" % (said, wanted)
    elif idle_budget is not None and seconds > BUSY_WARN_RATIO * idle_budget:
        status, limit = WARN, BUSY_WARN_RATIO * idle_budget
        message = (
            "%s, over %s times detect_within %s s: the profile's detection holds for idle "
            "connections only; set detect_busy_within (the role then sets tcp_retries2 for "
            "the namespace) or user_timeout (what the applications set as TCP_USER_TIMEOUT)"
            % (said, BUSY_WARN_RATIO, idle_budget)
        )
    else:
        status, message = PASS, "%s; no detect_busy_within requirement" % said
    tolerate = prof["tolerate_outage"]
    if status == PASS and figures["earliest"] < tolerate:
        status, limit = WARN, tolerate
        message += (
            "; but a network blip of %s s can drop a busy connection, shorter than "
            "tolerate_outage %s s (false positives)" % (figures["earliest"], tolerate)
        )
    return make_verdict("busy_detection", subject, status, seconds, limit, prefix + message)


def outage_verdict(values, tolerate_outage):
    window = probe_window(values["intvl"], values["probes"])
    formula = "%s x %s" % (values["probes"], values["intvl"])
    if window >= tolerate_outage:
        status = PASS
        message = (
            "idle connections survive a network outage of up to %s s (%s); tolerate_outage "
            "is %s s" % (window, formula, tolerate_outage)
        )
    else:
        status = FAIL
        message = (
            "probes give up after %s s (%s) but tolerate_outage is %s s: a network blip longer "
            "than %s s kills healthy idle connections (false positives); short by %s s"
            % (window, formula, tolerate_outage, window, tolerate_outage - window)
        )
    return make_verdict("outage_tolerance", "network", status, window, tolerate_outage, message)


def probe_rate_verdict(time, socket_count, probe_rate_warn=DEFAULT_PROBE_RATE_WARN):
    """Idle keepalive sockets each send one probe per ``time`` seconds."""
    check_integer("socket_count", socket_count, 0)
    if time < 1:
        message = "time=%s gives no meaningful probe rate" % time
        return make_verdict("probe_rate", "host", FAIL, None, probe_rate_warn, message)
    rate = round(socket_count / time, 2)
    status = WARN if rate > probe_rate_warn else PASS
    message = "%s idle keepalive sockets send about %s probes/s (one each every %s s)" % (
        socket_count,
        rate,
        time,
    )
    if status == WARN:
        message += ", above %s/s: raise time or keep fewer idle sockets" % probe_rate_warn
    return make_verdict("probe_rate", "host", status, rate, probe_rate_warn, message)


def summarize(verdict_list):
    """Worst status, counts per status and the messages that are not passes."""
    counts = {status: 0 for status in STATUSES}
    for item in verdict_list:
        counts[item["status"]] += 1
    worst = worst_status([item["status"] for item in verdict_list], default=PASS)
    # One line per verdict that did not pass, failures first (the fleet report's
    # ``problems`` are whole verdicts instead: see _report_model.problem_verdicts).
    problem_lines = [
        "%s %s: %s" % (item["check"], item["subject"], item["message"])
        for status in (FAIL, WARN)
        for item in verdict_list
        if item["status"] == status
    ]
    return {
        "status": worst,
        "counts": counts,
        "total": len(verdict_list),
        "problems": problem_lines,
    }

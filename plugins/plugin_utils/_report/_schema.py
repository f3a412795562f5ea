# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Type and range checks of one host report (host report schema 1) before the fleet report.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
Pure Python, no I/O. docs/report.md has the table of keys this checks. Every key but ``host``
is optional and ``None`` stands for unknown; a key that is there must have the documented
type and range, so that no renderer meets a string where it counts seconds and no file is
written from a report that could not be read. Keys the schema does not name are left alone:
a newer role may add some.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._path import (
    MAX_IDLE_TIMEOUT,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._remediation import (
    ADVICE_KEYS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    KERNEL_LIMITS,
    MODES,
    RETRIES2_LIMITS,
    STATUSES,
    VALUE_NAMES,
    detection_time,
    is_integer,
)

HOST_SCHEMAS = (1,)
LAYERS = (4, 7)
# The keepalive sysctls store a C int and take 0 or negatives without a word; a host report
# may carry such a value (its kernel_limits verdict fails), but nothing outside an int.
SYSCTL_INT = (-(2**31), 2**31 - 1)
BOX_TEXT_KEYS = ("id", "product", "name", "origin", "source", "confirmed", "at_expiry", "note")
ROW_TEXT_KEYS = ("netns", "unit", "comm", "state", "source")
ROW_INT_KEYS = ("idle", "intvl", "cnt")
ROW_COUNT_KEYS = ("count", "retransmitting", "probing")
# Sockets waiting on a silent peer at the audit (suspect dead peers): counts or null.
STALLED_KEYS = ("sockets_retransmitting", "sockets_probing")
SHOWN_CHARS = 80  # a value longer than this is cut in a message


def check_host_report(item, where):
    """Raise ``KeepaliveError`` naming ``where`` (``host NAME``), the key, value and rule."""
    _check_schema(item.get("schema"), where)
    _optional(item, "mode", where, _choice(MODES))
    for key in ("check_mode", "changed"):
        _optional(item, key, where, _boolean)
    for key in ("profile", "derivation_error", "file"):
        _optional(item, key, where, _text)
    _optional(item, "provenance", where, _mapping)
    for key in ("intended", "runtime", "after"):
        _optional(item, key, where, _values)
    _optional(item, "path", where, _list_of(_box))
    _optional(item, "boot_values", where, _boot_values)
    _optional(item, "shadowed_by", where, _list_of(_shadow))
    _optional(item, "adoption", where, _adoption)
    _optional(item, "verdicts", where, _list_of(_verdict))
    _optional(item, "retries2", where, _integer(*RETRIES2_LIMITS))
    _optional(item, "detection_busy_seconds", where, _seconds)
    for key in STALLED_KEYS:
        _optional(item, key, where, _integer(0, SYSCTL_INT[1]))
    _check_detection(item, where)
    _check_after_limits(item, where)


def shown(value):
    """A value and its type for a message, cut to a readable length."""
    text = repr(value)
    if len(text) > SHOWN_CHARS:
        text = text[: SHOWN_CHARS - 3] + "..."
    return "%s (%s)" % (text, _type_name(value))


def _refuse(where, field, value, allowed):
    raise KeepaliveError(
        "%s: %r must be %s, got %s" % (where, field, allowed, shown(value)),
        option="hosts",
        field=field,
        value=value,
    )


def _type_name(value):
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _optional(item, key, where, check):
    value = item.get(key)
    if value is not None:
        check(value, where, key)


# --- one check per kind of value: (value, where, field) -> None, or raise -------------------


def _check_schema(value, where):
    if value is None:
        return
    if not is_integer(value):
        _refuse(where, "schema", value, "an integer (supported: 1)")
    if value not in HOST_SCHEMAS:
        raise KeepaliveError(
            "%s: host report schema %r is not supported (supported: %s)"
            % (where, value, ", ".join(str(v) for v in HOST_SCHEMAS)),
            option="hosts",
            field="schema",
            value=value,
        )


def _choice(choices):
    def check(value, where, field):
        if value not in choices or isinstance(value, bool):
            raise KeepaliveError(
                "%s: %s is %s; allowed: %s"
                % (where, field, shown(value), ", ".join(str(c) for c in choices)),
                option="hosts",
                field=field,
                value=value,
            )

    return check


def _boolean(value, where, field):
    if not isinstance(value, bool):
        _refuse(where, field, value, "true, false or null")


def _text(value, where, field):
    if not isinstance(value, str):
        _refuse(where, field, value, "a string or null")


def _mapping(value, where, field):
    if not isinstance(value, dict):
        _refuse(where, field, value, "a dict or null")


def _integer(low, high, unit=""):
    allowed = "an integer %s..%s%s or null" % (low, high, unit)

    def check(value, where, field):
        if not is_integer(value) or not low <= value <= high:
            _refuse(where, field, value, allowed)

    return check


def _scalar_or_pair(value, where, field):
    """A verdict's value or limit: a number, a text, a range ``[low, high]``, or null."""
    scalars = (str, int, float, bool, type(None))
    if isinstance(value, list) and all(isinstance(v, scalars) for v in value):
        return
    if not isinstance(value, scalars):
        _refuse(where, field, value, "a number, a string, a list of them or null")


def _list_of(check_entry):
    """A list whose entries are dicts, each checked by ``check_entry(entry, where, field)``."""

    def check(value, where, field):
        if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
            _refuse(where, field, value, "a list of dicts")
        for number, entry in enumerate(value):
            check_entry(entry, where, "%s[%d]" % (field, number))

    return check


def _seconds(value, where, field):
    """A duration: a number >= 0 (int or float, not a boolean, not NaN)."""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or math.isnan(value)
        or not 0 <= value < float("inf")
    ):
        _refuse(where, field, value, "a number of seconds >= 0 or null")


def _values(value, where, field):
    """``{time, intvl, probes}``: each an integer the sysctl can hold; ``intended`` may carry
    ``retries2`` (the tcp_retries2 the profile asks for)."""
    allowed = "{time, intvl, probes} of integers or null"
    if not isinstance(value, dict):
        _refuse(where, field, value, allowed)
    missing = [name for name in VALUE_NAMES if name not in value]
    if missing:
        _refuse(where, field, value, "%s (%s missing)" % (allowed, ", ".join(missing)))
    low, high = SYSCTL_INT
    for name in VALUE_NAMES:
        if not is_integer(value[name]) or not low <= value[name] <= high:
            _refuse(
                where,
                "%s.%s" % (field, name),
                value[name],
                "an integer %s..%s (what the sysctl stores)" % (low, high),
            )
    if value.get("retries2") is not None:
        _integer(*RETRIES2_LIMITS)(value["retries2"], where, field + ".retries2")


def _box(box, where, field):
    for key in BOX_TEXT_KEYS:
        _optional(box, key, where, _prefixed(field, key, _text))
    _optional(box, "layer", where, _prefixed(field, "layer", _choice(LAYERS)))
    _optional(
        box,
        "idle_timeout",
        where,
        _prefixed(field, "idle_timeout", _integer(1, MAX_IDLE_TIMEOUT, " s")),
    )


def _boot_values(value, where, field):
    """``{name: {value, source}}``; a bare integer is a value of unknown source."""
    _mapping(value, where, field)
    low, high = SYSCTL_INT
    for name in VALUE_NAMES:
        entry = value.get(name)
        if entry is None or is_integer(entry):
            entry = {"value": entry}
        if not isinstance(entry, dict):
            _refuse(where, "%s.%s" % (field, name), entry, "{value, source}, an integer or null")
        _optional(entry, "value", where, _prefixed(field, name + ".value", _integer(low, high)))
        _optional(entry, "source", where, _prefixed(field, name + ".source", _text))


def _shadow(entry, where, field):
    for key in ("file", "key"):
        _optional(entry, key, where, _prefixed(field, key, _text))
    _optional(entry, "line", where, _prefixed(field, "line", _integer(1, SYSCTL_INT[1])))
    value = entry.get("value")
    if value is not None and not isinstance(value, str) and not is_integer(value):
        _refuse(where, field + ".value", value, "a string, an integer or null")


def _adoption(value, where, field):
    _mapping(value, where, field)
    _optional(value, "summary", where, _prefixed(field, "summary", _list_of(_socket_row)))
    namespaces = value.get("namespaces")
    if namespaces is not None and not isinstance(namespaces, (dict, list)):
        _refuse(where, field + ".namespaces", namespaces, "a dict, a list or null")
    degraded = value.get("degraded")
    if degraded is not None and not isinstance(degraded, list):
        _refuse(where, field + ".degraded", degraded, "a list or null")


def _socket_row(row, where, field):
    for key in ROW_TEXT_KEYS:
        _optional(row, key, where, _prefixed(field, key, _text))
    _optional(row, "keepalive", where, _prefixed(field, "keepalive", _boolean))
    for key in ROW_INT_KEYS:
        _optional(row, key, where, _prefixed(field, key, _integer(*SYSCTL_INT)))
    for key in ROW_COUNT_KEYS:
        _optional(row, key, where, _prefixed(field, key, _integer(0, SYSCTL_INT[1])))


def _verdict(verdict, where, field):
    status = verdict.get("status")
    _choice(STATUSES)(status, where, field + ".status")
    check = verdict.get("check")
    if not isinstance(check, str) or not check:
        _refuse(where, field + ".check", check, "a non-empty string")
    subject = verdict.get("subject")
    if subject is not None and not isinstance(subject, str) and not is_integer(subject):
        _refuse(where, field + ".subject", subject, "a string, an integer or null")
    _optional(verdict, "message", where, _prefixed(field, "message", _text))
    for key in ("value", "limit"):
        _scalar_or_pair(verdict.get(key), where, "%s.%s" % (field, key))
    _optional(verdict, "advice", where, _prefixed(field, "advice", _advice))


def _advice(advice, where, field):
    """How to fix a socket group: ``{service, where, knob, set, doc, why}``, all text."""
    _mapping(advice, where, field)
    for key in ADVICE_KEYS:
        _optional(advice, key, where, _prefixed(field, key, _text))


def _prefixed(field, key, check):
    """``check`` reporting the field as ``field.key`` (``path[1].idle_timeout``)."""
    return lambda value, where, _key: check(value, where, "%s.%s" % (field, key))


# --- consistency across keys -----------------------------------------------------------------


def _check_detection(item, where):
    """detection_seconds and detection_idle_seconds are time + intvl x probes after the run:
    a stale one would lie."""
    for key in ("detection_seconds", "detection_idle_seconds"):
        _check_idle(item, where, key)


def _check_idle(item, where, key):
    value = item.get(key)
    after = item.get("after")
    if value is None:
        return
    if after is None:
        if not is_integer(value) or value < 0:
            _refuse(where, key, value, "an integer >= 0 or null")
        return
    expected = detection_time(after)
    if not is_integer(value) or value != expected:
        _refuse(
            where,
            key,
            value,
            "after.time + after.intvl x after.probes = %d, or null" % expected,
        )


def _check_after_limits(item, where):
    """A value outside the kernel limits is only reported with the verdict that fails it.

    The role always judges ``after`` against the kernel limits; a report that has such a
    value and no failing kernel_limits verdict for it would show a broken host as passing.
    """
    after = item.get("after")
    if after is None:
        return
    failing = {
        verdict.get("subject")
        for verdict in item.get("verdicts") or []
        if verdict.get("check") == "kernel_limits" and verdict.get("status") == "fail"
    }
    for name in VALUE_NAMES:
        low, high = KERNEL_LIMITS[name]
        if not low <= after[name] <= high and name not in failing:
            raise KeepaliveError(
                "%s: 'after.%s' is %s, outside the kernel limits %s..%s, and no failing "
                "kernel_limits verdict (subject %s) reports it; allowed: a value within the "
                "limits, or one with that verdict" % (where, name, after[name], low, high, name),
                option="hosts",
                field="after." + name,
                value=after[name],
            )

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Geometry of a host's chart: keepalive and detection time against its path's idle timeouts.

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
Pure Python: the HTML template only draws what ``host_chart`` computes. The x axis is
logarithmic because the figures span 30 s to hours; a bar that reaches a red line is a
connection that a middlebox forgets before the first keepalive probe leaves.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    STATUS_RANK,
    is_integer,
    worst_status,
)

WIDTH = 1000
PLOT_LEFT = 150
PLOT_RIGHT = WIDTH - 40
LABEL_ROW = 15
BAR_HEIGHT = 20
BAR_GAP = 12
AXIS_HEIGHT = 30
LABEL_CHARS_PX = 6.4  # average width of a character of the 11 px label font
TICKS = (
    (1, "1 s"),
    (5, "5 s"),
    (10, "10 s"),
    (30, "30 s"),
    (60, "1 min"),
    (120, "2 min"),
    (300, "5 min"),
    (600, "10 min"),
    (1200, "20 min"),
    (1800, "30 min"),
    (3600, "1 h"),
    (7200, "2 h"),
    (14400, "4 h"),
    (28800, "8 h"),
    (86400, "1 d"),
    (172800, "2 d"),
)
LABEL_MAX = 24  # characters of a bar label that fit left of the plot
MAX_SOCKET_BARS = 6
FLEET_TOP = 24  # room for the caption above the rows
FLEET_WIDTH = 1080  # the card is about that wide at a 1200 px window
FLEET_PLOT_RIGHT = 640  # the fleet chart keeps room on the right for a line of text
# Above this many hosts the fleet chart draws one row per group of hosts that chart the same
# (status, keepalive time, idle timeouts, busy detection), worst and largest first, and at
# most FLEET_GROUPS rows: a page with a row per host of a fleet of thousands is unreadable
# and slow, while the groups say the same at a glance. The hosts table lists every host.
FLEET_HOST_ROWS = 60
FLEET_GROUPS = 40


def human_seconds(seconds):
    """``350 s``, ``20 min``, ``2 h``: the unit a person thinks in, exact when possible."""
    if seconds is None:
        return "unknown"
    if seconds < 600:
        # catalogs and docs give short timeouts in seconds; busy figures have tenths
        return "%s s" % (int(seconds) if seconds == int(seconds) else round(seconds, 1))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return "%d %s" % (seconds // size, unit)
    if seconds >= 3600:
        return "%.1f h" % (seconds / 3600.0)
    return "%.0f min" % (seconds / 60.0)


def host_chart(host):
    """Bars, timeout lines and axis of one host's chart, or None when nothing can be drawn."""
    bars = _bars(host)
    timeouts = _timeout_lines(host["path"])
    if not bars and not timeouts:
        return None
    values = [shape["value"] for shape in bars if shape["value"]] + [
        line["value"] for line in timeouts
    ]
    scale = _LogScale(min(values + [60]), max(values + [7200]))
    label_rows = _place_labels(timeouts, scale)
    top = LABEL_ROW * (max([line["row"] for line in timeouts], default=-1) + 2)
    for number, shape in enumerate(bars):
        shape["y"] = top + number * (BAR_HEIGHT + BAR_GAP)
        # No value (keepalive off): the bar runs to the edge, the connection is never probed.
        end = PLOT_RIGHT if shape["value"] is None else scale.x(shape["value"])
        shape["width"] = max(2, end - PLOT_LEFT)
        shape["end"] = PLOT_LEFT + shape["width"]
        if shape["limit"]:
            shape["limit_x"] = scale.x(shape["limit"])
        # The figure goes right of the bar and of its limit mark, or inside a long bar.
        shape["inside"] = shape["end"] > PLOT_RIGHT - 90
        shape["text_x"] = (
            shape["end"] - 6 if shape["inside"] else max(shape["end"], shape["limit_x"] or 0) + 6
        )
    bottom = top + len(bars) * (BAR_HEIGHT + BAR_GAP)
    for line in timeouts:
        line["x"] = scale.x(line["value"])
    return {
        "width": WIDTH,
        "height": bottom + AXIS_HEIGHT,
        "plot_left": PLOT_LEFT,
        "plot_right": PLOT_RIGHT,
        "plot_top": top - 4,
        "plot_bottom": bottom,
        "label_rows": label_rows,
        "bars": bars,
        "timeouts": timeouts,
        "ticks": _ticks(scale),
    }


def _bars(host):
    """Keepalive time (before and after the run, intended) and detection time."""
    after, runtime, intended = host["after"], host["runtime"], host["intended"]
    idle_status = _worst_verdict(host, ("middlebox_idle",))
    bars = []
    if runtime and after and runtime["time"] != after["time"]:
        bars.append(_bar("time before this run", runtime["time"], "old"))
    if after:
        bars.append(_bar("keepalive time", after["time"], idle_status or _idle_status(host)))
    if intended and (not after or intended["time"] != after["time"]):
        bars.append(_bar("intended time", intended["time"], "intended"))
    if host["detection_seconds"] is not None:
        detection = _bar(
            "detection time",
            host["detection_seconds"],
            _worst_verdict(host, ("detection_time",)) or "info",
        )
        detection["limit"] = _verdict_limit(host, "detection_time")
        if after:
            detection["note"] = "%s + %s x %s" % (after["time"], after["intvl"], after["probes"])
        bars.append(detection)
    return bars + _socket_bars(host)


def _socket_bars(host):
    """One bar per socket group's effective idle; keepalive off reaches the right edge."""
    rows = ((host["adoption"] or {}).get("summary")) or []
    layer4 = _layer4_timeouts(host["path"])
    groups = {}
    for row in rows:
        if row.get("state") not in (None, "established") or row.get("keepalive") is None:
            continue
        name = row.get("unit") or row.get("comm") or "?"
        if name.endswith(".service"):
            name = name[: -len(".service")]  # room for the name in the label column
        idle = row.get("idle") if row.get("keepalive") else None
        key = (name, idle)
        groups[key] = groups.get(key, 0) + (row.get("count") or 0)
    bars = []
    for (name, idle), count in sorted(groups.items(), key=lambda item: item[0][0])[
        :MAX_SOCKET_BARS
    ]:
        label = "sockets: %s" % name
        if idle is None:
            shape = _bar(label, None, "fail" if layer4 else "info")
            shape["text"] = "keepalive off (%d)" % count
        else:
            status = "fail" if layer4 and idle >= min(layer4) else "pass"
            shape = _bar(label, idle, status)
            shape["text"] = "%s (%d)" % (human_seconds(idle), count)
        shape["title"] = "%s: %d established sockets" % (name, count)
        bars.append(shape)
    return bars


def _bar(label, value, status):
    short = label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "\u2026"
    return {
        "label": short,
        "title": label,
        "value": value,
        "status": status,
        "text": human_seconds(value),
        "note": None,
        "limit": None,
        "limit_x": None,
    }


def _layer4_timeouts(path):
    return [
        box["idle_timeout"]
        for box in path
        if box.get("layer") == 4 and isinstance(box.get("idle_timeout"), int)
    ]


def _idle_status(host):
    """Without verdicts, the geometry decides: a first probe at or past a timeout fails."""
    layer4 = _layer4_timeouts(host["path"])
    if not layer4 or not host["after"]:
        return "info"
    return "fail" if host["after"]["time"] >= min(layer4) else "pass"


def _worst_verdict(host, checks):
    statuses = [v["status"] for v in host["verdicts"] if v["check"] in checks]
    return worst_status(statuses, default=None)


def _verdict_limit(host, check):
    for verdict in host["verdicts"]:
        if verdict["check"] == check and isinstance(verdict["limit"], int):
            return verdict["limit"]
    return None


def _timeout_lines(path):
    """One line per distinct idle timeout; boxes sharing a timeout share its line."""
    lines = {}
    for box in path:
        timeout = box.get("idle_timeout")
        if not is_integer(timeout) or timeout <= 0:
            continue
        layer = 4 if box.get("layer") == 4 else 7
        line = lines.setdefault((timeout, layer), {"value": timeout, "layer": layer, "ids": []})
        line["ids"].append(str(box.get("id") or box.get("name") or "?"))
    result = sorted(lines.values(), key=lambda line: (line["value"], line["layer"]))
    for line in result:
        line["label"] = "%s %s" % (", ".join(line["ids"]), human_seconds(line["value"]))
    return result


def _place_labels(lines, scale):
    """Stack labels in rows so that none overlaps the one before it in its row."""
    row_ends = []
    for line in lines:
        width = len(line["label"]) * LABEL_CHARS_PX
        start = min(scale.x(line["value"]) - width / 2, WIDTH - 4 - width)
        free = [number for number, end in enumerate(row_ends) if start > end + 6]
        row = free[0] if free else len(row_ends)
        if not free:
            row_ends.append(0)
        row_ends[row] = start + width
        line["row"] = row
        line["label_x"] = round(start, 1)
        line["label_y"] = LABEL_ROW * (row + 1) - 3
    return len(row_ends)


def _ticks(scale, spacing=42):
    """Axis ticks in range, skipping any that would crowd the one before it."""
    ticks = []
    for seconds, label in TICKS:
        x = scale.x(seconds)
        if scale.low <= seconds <= scale.high and (not ticks or x - ticks[-1]["x"] >= spacing):
            ticks.append({"x": x, "label": label})
    return ticks


class _LogScale(object):
    """Seconds to pixels, logarithmic, with a little room on both sides."""

    def __init__(self, low, high, right=PLOT_RIGHT):
        self.low = max(1, low / 2.0)
        self.high = high * 1.6
        self.right = right
        self._span = math.log10(self.high) - math.log10(self.low)

    def x(self, seconds):
        share = (math.log10(max(seconds, self.low)) - math.log10(self.low)) / self._span
        return round(PLOT_LEFT + share * (self.right - PLOT_LEFT), 1)


def fleet_chart(hosts):
    """One row per host: its keepalive time against the layer-4 timeouts on its path, with a
    mark at its busy detection time (``detection_busy_seconds``) when the host reports one.
    Above FLEET_HOST_ROWS hosts, one row per group of hosts that chart alike (``hosts`` says
    how many a row stands for).

    The first picture of the report: a bar that reaches a red tick is a path that breaks.
    """
    rows = [_fleet_row(host) for host in hosts]
    # Each host's own line, which its section of the report repeats, grouped or not.
    host_texts = dict((row["host"], _fleet_row_text(row)) for row in rows)
    if len(rows) > FLEET_HOST_ROWS:
        rows = _grouped_rows(rows)
    known = [row["value"] for row in rows if row["value"]]
    known += [row["busy"] for row in rows if row["busy"]]
    known += [t for row in rows for t in row["layer4"]]
    if not known:
        return None
    scale = _LogScale(min(known + [60]), max(known + [7200]), right=FLEET_PLOT_RIGHT)
    for number, row in enumerate(rows):
        row["y"] = FLEET_TOP + number * (BAR_HEIGHT + 8)
        row["width"] = 0 if row["value"] is None else max(2, scale.x(row["value"]) - PLOT_LEFT)
        row["ticks"] = [scale.x(t) for t in row["layer4"]]
        if row["busy"] is not None:
            row["busy_x"] = scale.x(row["busy"])
        row["text"] = _fleet_row_text(row)
        # Sockets without keepalive break the path whatever the sysctls say: say so in red.
        row["text_status"] = "fail" if row["off"] and row["layer4"] else row["status"]
    bottom = FLEET_TOP + len(rows) * (BAR_HEIGHT + 8)
    return {
        "width": FLEET_WIDTH,
        "height": bottom + AXIS_HEIGHT,
        "plot_left": PLOT_LEFT,
        "plot_right": FLEET_PLOT_RIGHT,
        "plot_top": FLEET_TOP - 6,
        "plot_bottom": bottom,
        "text_x": FLEET_PLOT_RIGHT + 12,
        "rows": rows,
        "grouped": len(hosts) > FLEET_HOST_ROWS,
        "host_texts": host_texts,
        "busy": any(row["busy_x"] is not None for row in rows),
        "ticks": _ticks(scale),
    }


def _fleet_row(host):
    values = host["after"] or host["runtime"]
    status = "info"
    if values:
        status = _worst_verdict(host, ("middlebox_idle",)) or _idle_status(host)
    return {
        "host": host["host"],
        "value": values["time"] if values else None,
        "status": status,
        "layer4": sorted(set(_layer4_timeouts(host["path"]))),
        "off": _sockets_off(host),
        # With data in flight keepalive does not probe: the busy detection figure is a mark
        # in the row; a host that does not report it gets none.
        "busy": _busy_seconds(host),
        "busy_x": None,
        "hosts": 1,
    }


def _grouped_rows(rows):
    """One row per group of hosts that chart alike, worst status and largest group first,
    cut at FLEET_GROUPS rows (the last row then stands for the groups left out). A group's
    label is its first host (the link goes to that host) and how many more it holds."""
    groups = {}
    for row in rows:
        key = (row["status"], row["value"], tuple(row["layer4"]), row["busy"], bool(row["off"]))
        if key in groups:
            groups[key]["hosts"] += 1
            groups[key]["off"] += row["off"]
        else:
            groups[key] = dict(row, first=row["host"])
    ordered = sorted(
        groups.values(), key=lambda g: (-_chart_rank(g["status"]), -g["hosts"], g["first"])
    )
    if len(ordered) > FLEET_GROUPS:
        shown, rest = ordered[: FLEET_GROUPS - 1], ordered[FLEET_GROUPS - 1 :]
        ordered = shown + [_rest_row(rest)]
    for group in ordered:
        if group["hosts"] > 1:
            group["host"] = "%s +%d" % (group["first"], group["hosts"] - 1)
    return ordered


def _rest_row(groups):
    """The row that stands for the groups the chart leaves out: their worst status, no bar."""
    return {
        "host": groups[0]["first"],
        "first": groups[0]["first"],
        "value": None,
        "status": max((g["status"] for g in groups), key=_chart_rank),
        "layer4": [],
        "off": sum(g["off"] for g in groups),
        "busy": None,
        "busy_x": None,
        "hosts": sum(g["hosts"] for g in groups),
        "rest_groups": len(groups),
    }


def _chart_rank(status):
    return STATUS_RANK.get(status, -1)  # "info" (nothing to judge) ranks below pass


def _busy_seconds(host):
    value = host.get("detection_busy_seconds")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return value


def _fleet_row_text(row):
    if row.get("rest_groups"):
        return "%d more hosts in %d other groups (every host is in the table below)" % (
            row["hosts"],
            row["rest_groups"],
        )
    text = _fleet_values_text(row)
    if row["hosts"] > 1:
        text = "%d hosts: %s" % (row["hosts"], text)
    return text


def _fleet_values_text(row):
    if row["value"] is None:
        text = "no keepalive values reported"
    elif not row["layer4"]:
        text = "%s; no layer-4 idle timeout known" % human_seconds(row["value"])
    else:
        first = row["layer4"][0]
        relation = "<" if row["value"] < first else ">="
        text = "%s %s %s idle timeout" % (
            human_seconds(row["value"]),
            relation,
            human_seconds(first),
        )
    if row["off"]:
        text += " · %d sockets keepalive off" % row["off"]
    return text


def _sockets_off(host):
    """Established sockets that have SO_KEEPALIVE off (never probed, whatever the sysctls)."""
    rows = ((host["adoption"] or {}).get("summary")) or []
    return sum(
        row.get("count") or 0
        for row in rows
        if row.get("keepalive") is False and row.get("state") in (None, "established")
    )

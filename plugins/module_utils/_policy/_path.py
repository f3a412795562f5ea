# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's network path: the middleboxes between it and its peers (pure Python, no I/O).

This module_util is private to the netstack.keepalive collection; it may change at any time.
Use it through ``_policy`` (the stable list of functions lives there).

A path item is one of:
- a catalog id: ``aws_nat_gateway``;
- an override of a catalog entry: ``{id: aws_nlb, idle_timeout: 600}``, checked against the
  product's configurable range;
- a custom box: ``{name: corp-fw, idle_timeout: 900, layer: 4}`` (``description`` optional).
Every resolved box says where its timeout came from (``origin``, ``source``, ``source_url``
and the date the catalog entry was ``verified``), what ends a flow at expiry (``effect``)
and, for a product no longer offered, when it was ``retired`` (``retirement_note``: the
text every verdict about such a box adds to its warning).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.netstack.keepalive.plugins.module_utils._policy._catalog import (
    CATALOG,
    EFFECT_UNKNOWN,
    FIXED,
    LAYERS,
    MINIMUM,
    RANGE,
    UNCONFIRMED,
    get_entry,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._policy._profiles import (
    check_integer,
)

ORIGIN_CATALOG = "catalog"
ORIGIN_OVERRIDE = "user override"
ORIGIN_CUSTOM = "custom"
# Far beyond any real idle timer (conntrack's default is 5 days), small enough to catch typos.
MAX_IDLE_TIMEOUT = 10 * 365 * 86400
OVERRIDE_KEYS = ("id", "idle_timeout")
CUSTOM_KEYS = ("name", "idle_timeout", "layer", "description")

_BOX_FIELDS = (
    "id",
    "product",
    "layer",
    "idle_timeout",
    "origin",
    "source",
    "confirmed",
    "at_expiry",
    "note",
    "effect",
    "source_url",
    "verified",
    "retired",
    "successor",
)


class Middlebox(namedtuple("Middlebox", _BOX_FIELDS)):
    """One box on a resolved path; immutable. ``idle_timeout`` None = no known figure."""

    __slots__ = ()

    def to_dict(self):
        return dict(self._asdict())


def resolve_path(items, catalog=None):
    """Resolve path items (ids, overrides, custom boxes) into a list of ``Middlebox``.

    Already resolved ``Middlebox`` objects pass through, so callers may resolve once.
    """
    if items is None:
        return []
    if isinstance(items, (str, dict)) or not isinstance(items, (list, tuple)):
        raise KeepaliveError(
            "path must be a list of middleboxes, got %r" % (items,), option="path", value=items
        )
    entries = CATALOG if catalog is None else catalog
    return [_resolve_item(index, item, entries) for index, item in enumerate(items, 1)]


def _resolve_item(index, item, entries):
    if isinstance(item, Middlebox):
        return item
    if isinstance(item, str):
        return _from_entry(_get(index, item, entries))
    if isinstance(item, dict) and "id" in item:
        return _override(index, item, entries)
    if isinstance(item, dict) and "name" in item:
        return _custom(index, item, entries)
    raise KeepaliveError(
        "path item %d must be a catalog id, {id: ID, idle_timeout: S} or "
        "{name: NAME, idle_timeout: S, layer: 4|7}, got %r" % (index, item),
        option="path",
        value=item,
    )


def _get(index, entry_id, entries):
    try:
        return get_entry(entry_id, entries)
    except KeepaliveError as exc:
        raise KeepaliveError("path item %d: %s" % (index, exc), **exc.details) from None


def _from_entry(entry):
    return Middlebox(
        id=entry.id,
        product=entry.product,
        layer=entry.layer,
        idle_timeout=entry.idle_timeout,
        origin=ORIGIN_CATALOG,
        source=entry.source,
        confirmed=entry.confirmed,
        at_expiry=entry.at_expiry,
        note=entry.note,
        effect=entry.effect,
        source_url=entry.source_url,
        verified=entry.verified,
        retired=entry.retired,
        successor=entry.successor,
    )


def _check_keys(index, label, item, allowed):
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise KeepaliveError(
            "path item %d (%s) has unknown keys %s; allowed: %s"
            % (index, label, unknown, ", ".join(allowed)),
            option="path",
            value=item,
        )


def _override(index, item, entries):
    entry = _get(index, item["id"], entries)
    _check_keys(index, entry.id, item, OVERRIDE_KEYS)
    box = _from_entry(entry)
    if item.get("idle_timeout") is None:
        return box
    label = "path item %d (%s) idle_timeout" % (index, entry.id)
    value = item["idle_timeout"]
    if entry.configurable == FIXED:
        check_integer(label, value, 1, MAX_IDLE_TIMEOUT, " s")
        if value != entry.idle_timeout:
            raise KeepaliveError(
                "%s=%s is out of range: %s's idle timeout is fixed at %s s (%s); describe a "
                "different box as a custom one: {name: ..., idle_timeout: %s, layer: %s}"
                % (
                    label,
                    value,
                    entry.product,
                    entry.idle_timeout,
                    entry.source,
                    value,
                    entry.layer,
                ),
                option="path",
                value=value,
            )
    elif entry.configurable == MINIMUM:
        _check_minimum(label, value, entry)
    elif entry.configurable == RANGE:
        low, high = entry.timeout_range
        check_integer(label, value, low, high if high is not None else MAX_IDLE_TIMEOUT, " s")
    else:
        check_integer(label, value, 1, MAX_IDLE_TIMEOUT, " s")
    default = "no default" if entry.idle_timeout is None else "default %s s" % entry.idle_timeout
    return box._replace(
        idle_timeout=value,
        origin=ORIGIN_OVERRIDE,
        source="user override (catalog %s, %s)" % (default, entry.source),
        confirmed=None,
        verified=None,
    )


def _check_minimum(label, value, entry):
    """A standard's floor: longer is allowed, shorter is a box that does not conform."""
    floor = entry.timeout_range[0]
    check_integer(label, value, 1, MAX_IDLE_TIMEOUT, " s")
    if value < floor:
        raise KeepaliveError(
            "%s=%s is below the minimum: %s must keep an idle connection at least %s s (%s); "
            "a box that forgets it sooner does not conform: describe it as a custom one: "
            "{name: ..., idle_timeout: %s, layer: %s}"
            % (label, value, entry.product, floor, entry.source, value, entry.layer),
            option="path",
            value=value,
            minimum=floor,
        )


def _custom(index, item, entries):
    name = item["name"]
    if not isinstance(name, str) or not name:
        raise KeepaliveError(
            "path item %d: name must be a non-empty string, got %r" % (index, name),
            option="path",
        )
    if name in entries:
        raise KeepaliveError(
            "path item %d: custom box name %r is a catalog id; to change its timeout write "
            "{id: %s, idle_timeout: S}" % (index, name, name),
            option="path",
            value=name,
        )
    _check_keys(index, name, item, CUSTOM_KEYS)
    for key in ("idle_timeout", "layer"):
        if key not in item:
            raise KeepaliveError(
                "path item %d (%s): a custom box needs %s" % (index, name, key), option="path"
            )
    timeout = check_integer(
        "path item %d (%s) idle_timeout" % (index, name),
        item["idle_timeout"],
        1,
        MAX_IDLE_TIMEOUT,
        " s",
    )
    layer = item["layer"]
    if isinstance(layer, bool) or layer not in LAYERS:
        raise KeepaliveError(
            "path item %d (%s) layer must be 4 (kernel keepalive resets the box's timer) or 7 "
            "(a proxy: only data resets it), got %r" % (index, name, layer),
            option="path",
            value=layer,
        )
    return Middlebox(
        id=name,
        product=str(item.get("description") or name),
        layer=layer,
        idle_timeout=timeout,
        origin=ORIGIN_CUSTOM,
        source="custom box from the path",
        confirmed=None,
        at_expiry="unknown",
        note="",
        effect=EFFECT_UNKNOWN,
        source_url=None,
        verified=None,
        retired=None,
        successor=None,
    )


def unconfirmed(box):
    """True when the box's figure comes from the catalog and is not confirmed."""
    return box.origin == ORIGIN_CATALOG and box.confirmed == UNCONFIRMED


def retirement_note(box):
    """The warning a retired product's verdicts carry ("" while the product is offered)."""
    if not box.retired:
        return ""
    move = "describe what replaced it in the path"
    if box.successor:
        move = "move to %s and put that id in the path" % box.successor
    return "; %s (%s) was retired on %s and is no longer offered: %s" % (
        box.product,
        box.id,
        box.retired,
        move,
    )


def layer4(path):
    """Boxes whose idle timer kernel keepalive probes reset."""
    return [box for box in path if box.layer == 4]


def layer7(path):
    """Proxies: only application data resets their timers."""
    return [box for box in path if box.layer == 7]


def latest_first_probe(box, margin):
    """Largest ``time`` whose first probe still leaves ``margin`` s (at least 1 s) before the
    box forgets the connection; None when the box has no known timeout."""
    if box.idle_timeout is None:
        return None
    return box.idle_timeout - max(margin, 1)


def smallest_timeout(boxes):
    """The box with the smallest known idle timeout, or None when none is known."""
    known = [box for box in boxes if box.idle_timeout is not None]
    return min(known, key=lambda box: box.idle_timeout) if known else None

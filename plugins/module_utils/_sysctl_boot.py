# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host will have after a reboot: the sysctl.d boot-precedence model.

This module_util is private to the netstack.keepalive collection; it may change at any time.

The model follows sysctl.d(5) and procps ``sysctl --system`` (which the test hosts run and
systemd-sysctl agrees with on every rule used here):

* ``*.conf`` files in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d
  and /lib/sysctl.d; a basename seen in an earlier (higher-priority) directory masks the same
  basename in every later one; a link to /dev/null therefore masks a file and sets nothing;
* the surviving files are applied in byte order of their basename, later assignments win;
* /etc/sysctl.conf is applied last (procps);
* per line: surrounding whitespace (CR of a CRLF file included) is ignored, ``#`` and ``;``
  start a comment line, ``key = value`` split at the first ``=``, a leading ``-`` on the key
  only says "ignore a failure", ``.`` or ``/`` separate the key's parts, duplicate keys: the
  later one wins.

Every function takes ``root`` (default "/") so tests build a whole fake tree in a tmp folder;
paths handed in and out are host paths ("/etc/sysctl.d/x.conf"), never root-prefixed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

SYSCTL_D_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"
DEV_NULL = "/dev/null"
_MAX_LINK_DEPTH = 40
_DECIMAL = re.compile(r"^[0-9]+$")


def host_to_local(root, path):
    """Where the host path ``path`` lives under ``root``."""
    if root in (None, "", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def normalize_key(key):
    """Canonical dotted form of a sysctl key.

    As in systemd-sysctl and procps: when the first separator is ``/``, ``/`` separates the
    parts and ``.`` is part of a name (an interface "eth0.100"), so the two are swapped.
    """
    key = key.strip().lstrip("/")
    first = re.search(r"[./]", key)
    if first and first.group(0) == "/":
        key = key.translate({ord("/"): ".", ord("."): "/"})
    return key


def parse_sysctl_text(text):
    """Assignments in one file: a list of dicts ``{line, key, value, ignore_failure}``.

    Lines that procps would reject ("invalid syntax") come back with ``key`` None and a
    ``problem`` so callers can report them.
    """
    entries = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if len(line) < 2 or line[0] in "#;":
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        value = value.strip()
        if not sep or not name or not value:
            entries.append({"line": number, "key": None, "problem": "invalid syntax"})
            continue
        ignore_failure = name.startswith("-")
        if ignore_failure:
            name = name[1:]
        entries.append(
            {
                "line": number,
                "key": normalize_key(name),
                "value": value,
                "ignore_failure": ignore_failure,
            }
        )
    return entries


def _resolve_link(root, path):
    """Follow symlinks of the host path ``path`` inside ``root``.

    Returns the local path to open, or DEV_NULL when the chain ends in /dev/null (a mask).
    Absolute targets are taken relative to ``root``, as the host would see them.
    """
    local = host_to_local(root, path)
    host = path
    for _unused in range(_MAX_LINK_DEPTH):
        if not os.path.islink(local):
            return local
        target = os.readlink(local)
        host = os.path.normpath(os.path.join(os.path.dirname(host), target))
        if host == DEV_NULL:
            return DEV_NULL
        local = host_to_local(root, host)
    return local


def is_masking_link(root, path):
    """True when ``path`` is a link to /dev/null (it masks and sets nothing)."""
    local = host_to_local(root, path)
    return os.path.islink(local) and _resolve_link(root, path) == DEV_NULL


def list_boot_files(root="/", overrides=None):
    """Files applied at boot, in order, and the files masked by a same basename.

    ``overrides`` maps a host path to the content it *will* have (a string) or None (it will
    be removed): the model of the host after our change, without touching the disk.
    Returns ``(files, masked)``: ``files`` a list of host paths in application order,
    ``masked`` a list of ``{file, masked_by}``.
    """
    overrides = overrides or {}
    chosen = {}
    masked = []
    for directory in SYSCTL_D_DIRS:
        for name in _conf_names(root, directory, overrides):
            path = directory + "/" + name
            if name in chosen:
                masked.append({"file": path, "masked_by": chosen[name]})
            else:
                chosen[name] = path
    # procps sorts with strcmp: byte order, not the locale's.
    files = [chosen[name] for name in sorted(chosen, key=lambda n: n.encode("utf-8"))]
    if SYSCTL_CONF in overrides:
        if overrides[SYSCTL_CONF] is not None:
            files.append(SYSCTL_CONF)
    elif os.path.isfile(host_to_local(root, SYSCTL_CONF)):
        files.append(SYSCTL_CONF)
    return files, masked


def _conf_names(root, directory, overrides):
    names = set()
    local = host_to_local(root, directory)
    try:
        listing = os.listdir(local)
    except OSError:
        listing = []  # a missing directory is normal (/run/sysctl.d, /usr/local/lib/...)
    for name in listing:
        if name.endswith(".conf") and len(name) > len(".conf"):
            names.add(name)
    for path, content in overrides.items():
        if os.path.dirname(path) != directory:
            continue
        name = os.path.basename(path)
        if content is None:
            names.discard(name)
        else:
            names.add(name)
    return sorted(names)


def read_boot_file(root, path, overrides=None):
    """Text of one boot file as sysctl would read it; raises OSError when unreadable."""
    overrides = overrides or {}
    if path in overrides:
        return overrides[path] or ""
    local = _resolve_link(root, path)
    if local == DEV_NULL:
        return ""
    with open(local, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


def boot_assignments(root="/", overrides=None, keys=None):
    """Every assignment applied at boot, in order, plus what could not be used.

    Returns a dict: ``assignments`` (list of ``{file, line, key, value}``, only ``keys`` when
    given), ``masked`` (see ``list_boot_files``) and ``problems`` (``{file, line, reason}``:
    unreadable files, invalid lines, values the kernel would refuse for ``keys``).
    """
    files, masked = list_boot_files(root, overrides)
    assignments = []
    problems = []
    for path in files:
        try:
            text = read_boot_file(root, path, overrides)
        except (IOError, OSError) as exc:
            reason = "unreadable: %s (its settings are unknown)" % (exc.strerror or exc)
            problems.append({"file": path, "line": None, "reason": reason})
            continue
        for entry in parse_sysctl_text(text):
            if entry["key"] is None:
                problems.append({"file": path, "line": entry["line"], "reason": entry["problem"]})
                continue
            if keys is not None and entry["key"] not in keys:
                continue
            if keys is not None and not _DECIMAL.match(entry["value"]):
                reason = "%s = %r is not a whole number; the kernel refuses it at boot" % (
                    entry["key"],
                    entry["value"],
                )
                problems.append({"file": path, "line": entry["line"], "reason": reason})
                continue
            assignments.append(
                {
                    "file": path,
                    "line": entry["line"],
                    "key": entry["key"],
                    "value": entry["value"],
                }
            )
    return {"assignments": assignments, "masked": masked, "problems": problems}


def boot_values(model, defaults):
    """The value each key in ``defaults`` gets at boot, with where it comes from.

    ``model`` is what ``boot_assignments`` returned. A key nobody sets keeps the kernel
    default (``source: kernel default``).
    """
    result = {}
    for key, default in defaults.items():
        result[key] = {"value": default, "source": "kernel default", "file": None, "line": None}
    for item in model["assignments"]:
        if item["key"] in result:
            result[item["key"]] = {
                "value": int(item["value"]),
                "source": "%s:%d" % (item["file"], item["line"]),
                "file": item["file"],
                "line": item["line"],
            }
    return result


def shadowing(model, our_path, our_keys):
    """Entries that override ``our_path`` at boot for any of ``our_keys``.

    Every assignment of one of our keys applied after our file's own assignment is listed
    (``{file, line, key, value}``), even when its value happens to equal ours: our file is
    then not what decides the value. When our file is masked by a same basename in a
    higher-priority directory, one entry per masking file says so (``key``/``value`` None).
    """
    entries = []
    for item in model["masked"]:
        if item["file"] == our_path:
            entries.append(
                {
                    "file": item["masked_by"],
                    "line": None,
                    "key": None,
                    "value": None,
                    "reason": "masks %s (same file name, higher-priority directory)" % our_path,
                }
            )
    ours_seen = set()
    for item in model["assignments"]:
        if item["file"] == our_path:
            ours_seen.add(item["key"])
            continue
        if item["key"] in ours_seen and item["key"] in our_keys:
            entry = dict(item)
            entry["value"] = int(item["value"])
            entry["reason"] = "applied after %s" % our_path
            entries.append(entry)
    return entries

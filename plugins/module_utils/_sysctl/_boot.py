# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host will have after a reboot: the sysctl.d boot-precedence model.

This module_util is private to the netstack.keepalive collection; it may change at any time.

The model follows sysctl.d(5), what applies the files at boot and the kernel's own parser of
each value; ``docs/boot-model.md`` lists every rule with the reboot that proves it. Two
programs apply the files at boot, and the model follows the one the host runs (``boot_init``):
systemd-sysctl when systemd is the init (``/run/systemd/system`` exists, as sd_booted(3)
tests), else procps ``sysctl --system`` (hosts without systemd, containers, the lab). In short:

* ``*.conf`` files in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d
  and /lib/sysctl.d; two spellings of one real directory (/lib -> usr/lib on merged-/usr
  hosts) are one directory; a basename seen in an earlier (higher-priority) directory masks
  the same basename in every later one; a link to /dev/null therefore masks and sets nothing;
* the surviving files are applied in byte order of their basename; procps then applies
  /etc/sysctl.conf last; systemd-sysctl never reads /etc/sysctl.conf itself, only through a
  sysctl.d entry such as Debian's /etc/sysctl.d/99-sysctl.conf link (bullseye, bookworm; not
  trixie), in that entry's place; settings in an /etc/sysctl.conf it does not reach are
  problems (they are never applied at boot); systemd-sysctl also skips hidden files;
* per line (procps): a line ends at LF, or at a NUL byte (C string); ASCII white space
  around it is ignored; ``#`` and ``;`` start a comment line; ``key = value`` splits at the
  first ``=``; a leading ``-`` on the key says "ignore a failure"; ``-key`` alone excludes
  the key from globs; ``*?[`` in a key make it a glob, which sets only the keys no line
  names exactly;
* per value (kernel): the value text plus a newline is written to /proc/sys; the kernel
  reads one integer in C notation (``0x`` hex, leading ``0`` octal), which must be followed by
  a space, tab or newline, and ignores the rest; each key's handler then checks the range
  (``KERNEL_HANDLERS``).

Every function takes ``root`` (default "/") so tests build a whole fake tree in a tmp folder;
paths handed in and out are host paths ("/etc/sysctl.d/x.conf"), never root-prefixed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import gzip
import os
import posixpath
import re

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import KeepaliveError
from ansible_collections.netstack.keepalive.plugins.module_utils._files import (
    FIFO,
    REGULAR_FILE,
    file_kind,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    RETRIES2_SYSCTL,
    SYSCTL_NAMES,
)

SYSCTL_D_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"
# What applies the sysctl.d files at boot (boot_init).
INIT_SYSTEMD = "systemd-sysctl"
INIT_PROCPS = "procps"
BOOT_INITS = (INIT_SYSTEMD, INIT_PROCPS)
# sd_booted(3): this folder exists exactly when systemd is the running init.
_SYSTEMD_RUNNING = "/run/systemd/system"
DEV_NULL = "/dev/null"
_MAX_LINK_DEPTH = 40

# The kernel handler of each key the model knows: the one place for these parse rules.
# "jiffies" is proc_dointvec_jiffies (seconds, |value| <= INT_MAX / CONFIG_HZ, negatives
# allowed), "u8" proc_dou8vec_minmax (0..255, no sign; since Linux 5.13, proc_dointvec
# before), "int" proc_dointvec (a C int). A key not listed is read as "int".
KERNEL_HANDLERS = {
    SYSCTL_NAMES["time"]: "jiffies",
    SYSCTL_NAMES["intvl"]: "jiffies",
    SYSCTL_NAMES["probes"]: "u8",
    RETRIES2_SYSCTL: "u8",
}
_U8_SINCE = (5, 13)
_INT_MAX = 2**31 - 1
_ULONG_MAX = 2**64 - 1
_HZ_CHOICES = (100, 250, 300, 1000)  # the CONFIG_HZ choices of x86 and arm64
# procps trims with isspace() of the C locale; Python's strip() would also eat U+00A0 etc.
_C_SPACE = " \t\n\v\f\r"
# What may follow the number (proc_wspace_sep); anything else makes the write EINVAL.
_AFTER_NUMBER = " \t\n"
# proc_get_long copies at most 21 characters and refuses a number that fills all of them.
_NUMBER_WINDOW = 21
_REFUSED = "the kernel refuses it at boot (EINVAL) and the key keeps its value"
_GLOB_CHARS = re.compile(r"[*?\[]")


def host_to_local(root, path):
    """Where the host path ``path`` lives under ``root``."""
    if root in (None, "", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def _dotted(key):
    """As procps' slashdot(): when the first separator is ``/``, ``/`` separates the parts and
    ``.`` is part of a name (an interface "eth0.100"), so the two are swapped."""
    key = key.lstrip("/")
    first = re.search(r"[./]", key)
    if first and first.group(0) == "/":
        key = key.translate({ord("/"): ".", ord("."): "/"})
    return key


# ---------------------------------------------------------------------------------------------
# Lines (procps)


def parse_sysctl_text(text):
    """Assignments in one file: a list of dicts ``{line, key, value, ignore_failure}``.

    ``value`` is the text procps writes (it may be refused by the kernel, see
    ``kernel_value``). Lines that set nothing because procps rejects them come back with
    ``key`` None and a ``problem``. ``-key`` exclusion lines are left out (they set nothing).
    """
    return [entry for entry in _parse_lines(text) if not entry.get("exclude")]


def _parse_lines(text):
    entries = []
    for number, raw in enumerate(text.split("\n"), start=1):
        entry = _parse_line(raw.split("\0", 1)[0])
        if entry is not None:
            entry["line"] = number
            entries.append(entry)
    return entries


def _parse_line(line):
    """One line as procps 4.0 parse_setting_line() reads it; None when it is skipped."""
    line = line.lstrip(_C_SPACE)
    if len(line) < 2 or line[0] in "#;":
        return None
    name, sep, value = line.partition("=")
    if not sep:
        if name[0] == "-":
            return {"key": _dotted(name[1:].rstrip(_C_SPACE)), "value": None, "exclude": True}
        return {"key": None, "problem": "invalid syntax (no '='): procps skips the line"}
    ignore_failure = name.startswith("-")
    if ignore_failure:
        name = name[1:]
    # procps strips only the right of the name here: "- key" names " key", which no
    # sysctl is called, so it sets nothing.
    name = name.rstrip(_C_SPACE)
    if not name:
        return {"key": None, "problem": "nothing before '=': procps sets nothing"}
    return {
        "key": _dotted(name),
        "value": value.strip(_C_SPACE),
        "ignore_failure": ignore_failure,
    }


def _is_glob(key):
    return bool(_GLOB_CHARS.search(key))


def _glob_matches(pattern, key):
    """glob(3) over /proc/sys: each path part matched on its own (``*`` stops at ``/``)."""
    pattern_parts = pattern.split(".")
    key_parts = key.split(".")
    if len(pattern_parts) != len(key_parts):
        return False
    return all(
        fnmatch.fnmatchcase(key_parts[i].replace("/", "."), part.replace("/", "."))
        for i, part in enumerate(pattern_parts)
    )


# ---------------------------------------------------------------------------------------------
# Values (kernel)


def kernel_facts(root="/"):
    """``{release, hz}`` of the running kernel; ``hz`` None when its config is not readable."""
    release = os.uname()[2]
    return {"release": release, "hz": _config_hz(root, release)}


def _config_hz(root, release):
    for path, opener in (("/boot/config-" + release, open), ("/proc/config.gz", gzip.open)):
        try:
            with opener(host_to_local(root, path), "rt") as handle:
                for line in handle:
                    if line.startswith("CONFIG_HZ="):
                        return int(line.split("=", 1)[1])
        except (IOError, OSError, ValueError, EOFError):
            continue
    return None


def handler_of(key, kernel):
    """The kernel handler name ("jiffies", "u8", "int") of ``key`` on ``kernel``."""
    handler = KERNEL_HANDLERS.get(key, "int")
    if handler == "u8" and _release_tuple(kernel.get("release")) < _U8_SINCE:
        return "int"
    return handler


def _release_tuple(release):
    found = re.match(r"(\d+)\.(\d+)", release or "")
    if not found:
        return _U8_SINCE  # unknown: assume a current kernel
    return (int(found.group(1)), int(found.group(2)))


def _read_integer(text):
    """``(negative, magnitude, None)`` as the kernel's proc_get_long reads ``text`` plus the
    newline procps adds, or ``(None, None, why it refuses)``."""
    buffer = (text + "\n").lstrip(_C_SPACE)
    if not buffer:
        return None, None, "nothing after '=' (the kernel refuses an empty value)"
    window = buffer[:_NUMBER_WINDOW]
    negative = window.startswith("-")
    start = 1 if negative else 0
    if not _is_decimal(_char_at(window, start)):
        return None, None, "does not start with a digit"
    magnitude, end = _c_number(window, start)
    if end == _NUMBER_WINDOW:
        return None, None, "the number is longer than %d characters" % (_NUMBER_WINDOW - 1)
    if magnitude > _ULONG_MAX:
        return None, None, "the number does not fit 64 bits"
    if buffer[end] not in _AFTER_NUMBER:
        return None, None, "the number is followed by %r, not by white space" % buffer[end]
    return negative, magnitude, None


def _c_number(text, start):
    """strtoul(text[start:], base 0) as the kernel does it: (value, end index)."""
    base = 10
    if text[start] == "0":
        base = 8
        if _char_at(text, start + 1) in ("x", "X") and _digit(_char_at(text, start + 2)) < 16:
            base = 16
            start += 2
    end = start
    while end < len(text) and _digit(text[end]) < base:
        end += 1
    return int(text[start:end], base), end


def _char_at(text, index):
    """``text[index]``, or "" past the end (where the kernel's buffer holds its NUL)."""
    return text[index:][:1]


def _is_decimal(char):
    return char != "" and char in "0123456789"


def _digit(char):
    """Value of one hex digit, 99 for anything else (str.isdigit() would take other scripts)."""
    if char == "" or char not in "0123456789abcdefABCDEF":
        return 99
    return int(char, 16)


def kernel_value(key, text, kernel):
    """``(value, None)``: the int ``key`` holds after the kernel took ``text``; or
    ``(None, reason)`` when the kernel refuses it (the key keeps what it had)."""
    negative, magnitude, why = _read_integer(text)
    if why is not None:
        why = "%s; %s" % (why, _REFUSED)
    else:
        why = _range_problem(handler_of(key, kernel), negative, magnitude, kernel)
    if why is not None:
        return None, "%s = %r: %s" % (key, text, why)
    number = int(magnitude)  # an int whenever why is None; said outright for older pylint
    return (-number if negative else number), None


def _range_problem(handler, negative, magnitude, kernel):
    """Why ``handler`` refuses the number (None when it takes it)."""
    if handler == "u8":
        if negative or magnitude > 255:
            return "not in 0..255 (no sign allowed); %s" % _REFUSED
        return None
    if handler == "jiffies":
        return _jiffies_problem(magnitude, kernel.get("hz"))
    if magnitude > _INT_MAX + (1 if negative else 0):
        return "does not fit a C int; %s" % _REFUSED
    return None


def _jiffies_problem(magnitude, hz):
    if hz is not None:
        if magnitude > _INT_MAX // hz:
            return "beyond +-%d (INT_MAX / CONFIG_HZ %d); %s" % (_INT_MAX // hz, hz, _REFUSED)
        return None
    if magnitude <= _INT_MAX // max(_HZ_CHOICES):
        return None
    if magnitude > _INT_MAX // min(_HZ_CHOICES):
        return "beyond +-%d (INT_MAX / CONFIG_HZ, whatever the HZ); %s" % (
            _INT_MAX // min(_HZ_CHOICES),
            _REFUSED,
        )
    return (
        "taken only when the kernel's CONFIG_HZ is at most %d (INT_MAX / value), and this "
        "kernel's configuration is not readable (/boot/config-*, /proc/config.gz), so the "
        "boot value is uncertain" % (_INT_MAX // magnitude)
    )


# ---------------------------------------------------------------------------------------------
# Files and directories


def host_realpath(root, path):
    """``path`` with every link resolved as the host sees it (absolute targets inside
    ``root``); parts that do not exist are kept as written."""
    pending = [part for part in path.split("/") if part]
    resolved = "/"
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            resolved = posixpath.dirname(resolved)
            continue
        candidate = posixpath.join(resolved, part)
        local = host_to_local(root, candidate)
        if links >= _MAX_LINK_DEPTH or not os.path.islink(local):
            resolved = candidate
            continue
        links += 1
        target = os.readlink(local)
        pending = [p for p in target.split("/") if p] + pending
        if target.startswith("/"):
            resolved = "/"
    return resolved


def directory_spellings(root="/"):
    """Each of SYSCTL_D_DIRS -> the spelling procps reads it under.

    On a merged-/usr host /lib is a link to usr/lib: /lib/sysctl.d is /usr/lib/sysctl.d, so
    its files are the same files, read once (under the earlier, higher-priority name).
    """
    first_by_real = {}
    spellings = {}
    for directory in SYSCTL_D_DIRS:
        real = host_realpath(root, directory)
        spellings[directory] = first_by_real.setdefault(real, directory)
    return spellings


def _canonical(spellings, path):
    directory, name = posixpath.split(path)
    if directory in spellings:
        return spellings[directory] + "/" + name
    return path


def _canonical_overrides(spellings, overrides):
    return dict((_canonical(spellings, path), text) for path, text in (overrides or {}).items())


def _resolve_link(root, path):
    """The local path to open for the host path ``path``, or DEV_NULL when it is a link
    (chain) ending in /dev/null (a mask)."""
    real = host_realpath(root, path)
    if real == DEV_NULL and os.path.islink(host_to_local(root, path)):
        return DEV_NULL
    return host_to_local(root, real)


def is_masking_link(root, path):
    """True when ``path`` is a link to /dev/null (it masks and sets nothing)."""
    return _resolve_link(root, path) == DEV_NULL and os.path.islink(host_to_local(root, path))


def boot_init(root="/"):
    """What applies the sysctl.d files at the host's boot: INIT_SYSTEMD or INIT_PROCPS.

    A host booted by systemd runs systemd-sysctl at its next boot too; any other host (no
    systemd, a container, a lab host) is modelled as running procps ``sysctl --system``.
    """
    if os.path.isdir(host_to_local(root, _SYSTEMD_RUNNING)):
        return INIT_SYSTEMD
    return INIT_PROCPS


def _init_of(root, init):
    if init is None:
        return boot_init(root)
    if init not in BOOT_INITS:
        raise KeepaliveError("init must be one of %s, not %r" % (", ".join(BOOT_INITS), init))
    return init


def list_boot_files(root="/", overrides=None, init=None):
    """Files applied at boot, in order, and the files masked by a same basename.

    ``overrides`` maps a host path to the content it *will* have (a string) or None (it will
    be removed): the model of the host after our change, without touching the disk.
    ``init`` is INIT_SYSTEMD or INIT_PROCPS (default: ``boot_init(root)``).
    Returns ``(files, masked)``: ``files`` a list of host paths in application order,
    ``masked`` a list of ``{file, masked_by, dev_null}`` (``dev_null``: the masking file is a
    link to /dev/null). A directory reached under two names is listed under the first.
    """
    init = _init_of(root, init)
    spellings = directory_spellings(root)
    overrides = _canonical_overrides(spellings, overrides)
    chosen = {}
    masked = []
    for directory in SYSCTL_D_DIRS:
        if spellings[directory] != directory:
            continue  # the same directory as an earlier one
        for name in _conf_names(root, directory, overrides, init):
            path = directory + "/" + name
            if name in chosen:
                masker = chosen[name]
                null = masker not in overrides and is_masking_link(root, masker)
                masked.append({"file": path, "masked_by": masker, "dev_null": null})
            else:
                chosen[name] = path
    # procps sorts with strcmp: byte order, not the locale's.
    files = [chosen[name] for name in sorted(chosen, key=lambda n: n.encode("utf-8"))]
    if init == INIT_PROCPS and _sysctl_conf_exists(root, overrides):
        files.append(SYSCTL_CONF)
    return files, masked


def _sysctl_conf_exists(root, overrides):
    if SYSCTL_CONF in overrides:
        return overrides[SYSCTL_CONF] is not None
    return os.path.isfile(host_to_local(root, SYSCTL_CONF))  # procps: stat() says regular


def _conf_names(root, directory, overrides, init):
    names = set()
    local = host_to_local(root, directory)
    try:
        listing = os.listdir(local)
    except OSError:
        listing = []  # a missing directory is normal (/run/sysctl.d, /usr/local/lib/...)
    for name in listing:
        # procps 4.0.2 also applies a file called just ".conf" and ".x.conf", systemd-sysctl
        # skips every hidden file (both measured); no model takes ".conf".
        hidden = name.startswith(".") and init == INIT_SYSTEMD
        if name.endswith(".conf") and len(name) > len(".conf") and not hidden:
            names.add(name)
    for path, content in overrides.items():
        if posixpath.dirname(path) != directory:
            continue
        name = posixpath.basename(path)
        if content is None:
            names.discard(name)
        else:
            names.add(name)
    return sorted(names)


def _boot_file_text(root, path, overrides):
    """``(text, None)`` or ``(None, reason)`` for a canonical ``path``; never blocks: a FIFO
    is opened non-blocking and closed as soon as fstat() says what it is."""
    if path in overrides:
        return overrides[path] or "", None
    local = _resolve_link(root, path)
    if local == DEV_NULL:
        return "", None
    try:
        fd = os.open(local, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (IOError, OSError) as exc:
        return None, _not_regular(local) or _unreadable(exc)
    kind = _file_kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        return None, _not_regular_reason(kind)
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8", "replace"), None


def _unreadable(exc):
    return "unreadable: %s (its settings are unknown)" % (exc.strerror or exc)


def _not_regular(local):
    try:
        kind = _file_kind(os.stat(local).st_mode)
    except (IOError, OSError):
        return None
    return _not_regular_reason(kind) if kind else None


def _file_kind(mode):
    """None for a regular file, else what it is."""
    kind = file_kind(mode)
    return None if kind == REGULAR_FILE else kind


def _not_regular_reason(kind):
    reason = "is %s, not a regular file: it sets nothing" % kind
    if kind == FIFO:
        # Measured: both open it and wait for a writer, so the boot hangs right there.
        reason += (
            "; procps 'sysctl --system' and systemd-sysctl (252) block on it at boot until "
            "something writes to it"
        )
    return reason


# ---------------------------------------------------------------------------------------------
# The model


def boot_assignments(root="/", overrides=None, keys=None, kernel=None, init=None):
    """Every assignment applied at boot, in order, plus what could not be used.

    Returns a dict: ``assignments`` (list of ``{file, line, key, value}``), ``masked`` (see
    ``list_boot_files``), ``problems`` (``{file, line, reason}``: unreadable or non-regular
    files, invalid lines, values the kernel refuses, settings in an /etc/sysctl.conf that
    systemd-sysctl never reads), ``spellings`` (see ``directory_spellings``) and ``init``
    (what applies the files: ``init`` or ``boot_init(root)``). With ``keys``, only those keys,
    ``value`` is the int the kernel will hold (``kernel``: ``kernel_facts()`` of the host, read
    when not given) and glob lines count for the keys they set; without ``keys``, ``value`` is
    the text as written.
    """
    init = _init_of(root, init)
    spellings = directory_spellings(root)
    overrides = _canonical_overrides(spellings, overrides)
    files, masked = list_boot_files(root, overrides, init)
    entries, problems = _entries_of(root, files, overrides)
    unread = _unread_sysctl_conf(root, files, overrides, keys) if init == INIT_SYSTEMD else []
    if keys is None:
        assignments = [
            _assignment(path, entry, entry["value"])
            for path, entry in entries
            if not entry.get("exclude")
        ]
    else:
        kernel = kernel or kernel_facts(root)
        assignments = _kernel_assignments(entries, keys, kernel, problems)
    ordered = sorted(problems, key=lambda p: (files.index(p["file"]), p["line"] or 0))
    return {
        "assignments": assignments,
        "masked": masked,
        "problems": ordered + unread,
        "spellings": spellings,
        "init": init,
    }


def _unread_sysctl_conf(root, files, overrides, keys):
    """Problems for the settings of an /etc/sysctl.conf that systemd-sysctl will not apply:
    it reads that file only when a sysctl.d entry it applies resolves to it (Debian's
    /etc/sysctl.d/99-sysctl.conf link; trixie ships neither the file nor the link)."""
    if not _sysctl_conf_exists(root, overrides):
        return []
    if any(host_realpath(root, path) == SYSCTL_CONF for path in files):
        return []
    entries, _problems = _entries_of(root, [SYSCTL_CONF], overrides)
    settings = [entry for _path, entry in entries if not entry.get("exclude")]
    if not settings:
        return []
    why = (
        "systemd-sysctl does not read %s at boot (no sysctl.d entry links to it, such as "
        "/etc/sysctl.d/99-sysctl.conf)" % SYSCTL_CONF
    )
    problems = [
        {
            "file": SYSCTL_CONF,
            "line": None,
            "reason": "%s: its %d setting(s) are never applied at boot; put them in a "
            "file in /etc/sysctl.d" % (why, len(settings)),
        }
    ]
    for entry in settings:
        if keys is None or entry["key"] in keys or _is_glob(entry["key"]):
            problems.append(
                {
                    "file": SYSCTL_CONF,
                    "line": entry["line"],
                    "reason": "%s = %s: never applied at boot; %s"
                    % (entry["key"], entry["value"], why),
                }
            )
    return problems


def _entries_of(root, files, overrides):
    """(path, entry) of every setting line of the applied files, and their problems."""
    entries = []
    problems = []
    for path in files:
        text, problem = _boot_file_text(root, path, overrides)
        if problem is not None:
            problems.append({"file": path, "line": None, "reason": problem})
            continue
        for entry in _parse_lines(text):
            if entry["key"] is None:
                problems.append({"file": path, "line": entry["line"], "reason": entry["problem"]})
            else:
                entries.append((path, entry))
    return entries, problems


def _kernel_assignments(entries, keys, kernel, problems):
    # procps writes a glob only to keys that no line (of any file) names exactly.
    named = set(entry["key"] for _path, entry in entries if not _is_glob(entry["key"]))
    assignments = []
    for path, entry in entries:
        if entry.get("exclude"):
            continue
        for key in _keys_set_by(entry["key"], keys, named):
            value, reason = kernel_value(key, entry["value"], kernel)
            if reason is None:
                assignments.append(_assignment(path, entry, value, key))
            else:
                problems.append({"file": path, "line": entry["line"], "reason": reason})
    return assignments


def _keys_set_by(key, keys, named):
    if not _is_glob(key):
        return [key] if key in keys else []
    return [k for k in keys if k not in named and _glob_matches(key, k)]


def _assignment(path, entry, value, key=None):
    return {"file": path, "line": entry["line"], "key": key or entry["key"], "value": value}


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
    (``{file, line, key, value, reason}``), even when its value happens to equal ours: our
    file is then not what decides the value. When our file is masked by a same basename in a
    higher-priority directory, one entry per masking file says so (``key``/``value`` None).
    ``our_path`` may use any spelling of its directory (/lib/sysctl.d or /usr/lib/sysctl.d).
    """
    ours = _canonical(model.get("spellings", {}), our_path)
    entries = [_mask_entry(item, our_path) for item in model["masked"] if item["file"] == ours]
    ours_seen = set()
    for item in model["assignments"]:
        if item["file"] == ours:
            ours_seen.add(item["key"])
        elif item["key"] in ours_seen and item["key"] in our_keys:
            entries.append(
                {
                    "file": item["file"],
                    "line": item["line"],
                    "key": item["key"],
                    "value": int(item["value"]),
                    "reason": "applied after %s" % our_path,
                }
            )
    return entries


def _mask_entry(item, our_path):
    how = "same file name, higher-priority directory"
    if item.get("dev_null"):
        how = "a link to /dev/null with the same file name, in a higher-priority directory"
    return {
        "file": item["masked_by"],
        "line": None,
        "key": None,
        "value": None,
        "reason": "masks %s (%s)" % (our_path, how),
    }

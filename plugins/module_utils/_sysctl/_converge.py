# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge the keepalive sysctls of one network namespace: plan first, then act.

This module_util is private to the netstack.keepalive collection; it may change at any time.

``converge`` is the whole of keepalive_sysctl without AnsibleModule: it validates, reads the
runtime values and our file, models the host after the change (boot values, shadowing),
refuses before touching anything when asked to, and only then writes the file (atomically)
and the runtime values (undoing both if a runtime write fails half way). Check mode stops
right before the writes, so its answer is the same plan.

``tcp_retries2`` is optional: its runtime value is read, written or restored only when the
option is given (or, for ``restore_runtime``, when our file set it); our file keeps a line of
it that an earlier run wrote, like the keepalive keys; the boot values include it when it is
given or some file of the boot model sets it, shadowing whenever our file sets it.

Only a file that is absent or starts with our HEADER is ever written or removed. Runs on a
host are serialised by ``_sysctl_runtime.FileLock`` beside our file: a writer plans again
under the exclusive lock, so what it does and reports is the state it found there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._netns import (
    netns_inode,
    run_in_netns,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._boot import (
    boot_assignments,
    boot_values,
    host_to_local,
    parse_sysctl_text,
    shadowing,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._params import (
    DEFAULT_PATH,
    SYSCTL_OPTIONS,
    retries2_warning,
    validate,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl import (
    _runtime as runtime,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _netns_owner,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    LINUX_DEFAULTS,
    LINUX_RETRIES2,
    OPTION_NAMES,
    RETRIES2_OPTION,
    RETRIES2_SYSCTL,
    SYSCTL_KEY_OF,
    SYSCTL_KEYS,
    SYSCTL_NAMES,
    VALUE_NAMES,
    detection_time,
    short_names,
)

# The first line of our file: it tells our file from one an admin or a package wrote.
MARKER = "# Managed by Ansible (netstack.keepalive.keepalive_sysctl): TCP keepalive."
HEADER = MARKER + "\n# Local edits are overwritten; change the playbook instead.\n"
# The dotted key of every option that sets a sysctl, and every key the boot model follows.
KEY_OF = dict(SYSCTL_KEY_OF, **{RETRIES2_OPTION: RETRIES2_SYSCTL})
MODEL_KEYS = SYSCTL_KEYS + (RETRIES2_SYSCTL,)


def render_file(values):
    """Our file: the header and exactly our keys (option name -> int), in a fixed order
    (the keepalive keys, then tcp_retries2)."""
    lines = [HEADER]
    for option in SYSCTL_OPTIONS:
        if option in values:
            lines.append("%s = %d\n" % (KEY_OF[option], values[option]))
    return "".join(lines)


def keys_in_file(content):
    """Our keys already in our file (option name -> int); anything else is dropped."""
    by_key = dict((KEY_OF[option], option) for option in SYSCTL_OPTIONS)
    found = {}
    for entry in parse_sysctl_text(content or ""):
        option = by_key.get(entry.get("key"))
        if option and entry["value"].isdigit():
            found[option] = int(entry["value"])
    return found


def _read_runtime(root, need_write, extra=()):
    """The keepalive keys and the ``extra`` options (tcp_retries2), by option name."""
    runtime.check_proc_dir(root, need_write)
    values = runtime.read_keepalive_sysctls(root)
    extra_values = runtime.read_runtime(root, [KEY_OF[option] for option in extra])
    values.update((option, extra_values[KEY_OF[option]]) for option in extra)
    return values


def _write_runtime(root, changes, before, extra=()):
    runtime.write_runtime(
        root,
        dict((KEY_OF[o], v) for o, v in changes.items()),
        dict((KEY_OF[o], v) for o, v in before.items()),
    )
    return _read_runtime(root, False, extra)


def _runtime_extras(settings, old_content):
    """The optional options whose runtime value this run reads (and may set or restore):
    tcp_retries2 when given, or with restore_runtime when our file set it."""
    if RETRIES2_OPTION in settings["wanted"]:
        return (RETRIES2_OPTION,)
    restoring = settings["state"] == "absent" and settings["restore_runtime"]
    if restoring and RETRIES2_OPTION in keys_in_file(old_content):
        return (RETRIES2_OPTION,)
    return ()


def _sets_key(model, key):
    return any(item["key"] == key for item in model["assignments"])


def plan_changes(settings, root="/"):
    """Everything ``converge`` will do, computed without writing anything."""
    path = settings["path"]
    old_content, old_mode = runtime.read_text_file(root, path)
    if settings["state"] == "absent" or settings["persist"]:
        check_ours(path, old_content)
    extra = _runtime_extras(settings, old_content)
    before = run_in_netns(settings["netns_path"], _read_runtime, root, False, extra)
    new_content, new_mode = _desired_file(settings, old_content, old_mode)
    overrides = {path: new_content} if new_content != old_content else {}
    model = boot_assignments(root, overrides, keys=MODEL_KEYS)
    # An audit (check mode) wants the boot values the disk gives now, not after the task.
    model_now = boot_assignments(root, {}, keys=MODEL_KEYS) if overrides else model
    options = OPTION_NAMES
    if extra or _sets_key(model, RETRIES2_SYSCTL) or _sets_key(model_now, RETRIES2_SYSCTL):
        options += (RETRIES2_OPTION,)
    boot = _boot_by_option(model, options)
    boot_now = _boot_by_option(model_now, options)
    shadowed = []
    if settings["state"] == "present" and settings["persist"]:
        shadowed = shadowing(model, path, MODEL_KEYS)
    runtime_wanted = _desired_runtime(settings, boot, extra)
    changes = dict((o, v) for o, v in runtime_wanted.items() if before[o] != v)
    return {
        "before": before,
        "runtime_changes": changes,
        "old_content": old_content,
        "old_mode": old_mode,
        "new_content": new_content,
        "new_mode": new_mode,
        "file_changed": _file_changes(old_content, old_mode, new_content, new_mode),
        "leftovers": _leftovers(settings, root),
        "boot_values": boot,
        "boot_values_before": boot_now,
        "shadowed_by": shadowed,
        "problems": model["problems"],
        "extra": extra,
    }


def _file_changes(old_content, old_mode, new_content, new_mode):
    if new_content != old_content:
        return True
    return new_content is not None and new_mode != old_mode


def check_ours(path, content):
    """Refuse to rewrite or remove a file that another package or an admin wrote."""
    if content is None or content.startswith(MARKER + "\n"):
        return
    what = "an empty file" if not content.strip() else "a file"
    raise KeepaliveError(
        "path=%r is %s this module did not write (it does not start with the line %r), so "
        "it belongs to an admin or a package and is never rewritten or removed; allowed: a "
        "path that does not exist yet or a file this module wrote (default %s); nothing was "
        "changed" % (path, what, MARKER, DEFAULT_PATH),
        option="path",
    )


def _leftovers(settings, root):
    """Files of ours a killed run left behind: temporaries, and with absent the lock file."""
    found = runtime.stale_temporaries(root, settings["path"])
    lock = runtime.lock_file(settings["path"])
    if settings["state"] == "absent" and os.path.lexists(host_to_local(root, lock)):
        found.append(lock)
    return found


def _boot_by_option(model, options):
    kernel_defaults = dict((SYSCTL_NAMES[name], LINUX_DEFAULTS[name]) for name in VALUE_NAMES)
    kernel_defaults[RETRIES2_SYSCTL] = LINUX_RETRIES2
    boot = boot_values(model, kernel_defaults)
    return dict((option, boot[KEY_OF[option]]) for option in options)


def _desired_file(settings, old_content, old_mode):
    if settings["state"] == "absent":
        return None, None
    if not settings["persist"]:
        return old_content, old_mode
    values = keys_in_file(old_content)
    values.update(settings["wanted"])
    return render_file(values), settings["mode"]


def _desired_runtime(settings, boot, extra):
    if settings["state"] == "present":
        return dict(settings["wanted"]) if settings["apply"] else {}
    if settings["restore_runtime"]:
        return dict((option, boot[option]["value"]) for option in OPTION_NAMES + extra)
    return {}


def converge(params, check_mode=False, want_diff=False, root="/"):
    """Run keepalive_sysctl; returns ``(result, warnings)``; raises KeepaliveError.

    The first plan is read under a shared lock (when the lock file exists), so it never sees
    a writer half way; every refusal happens there, before anything is created. A run with
    something to change then takes the exclusive lock and plans again: what it does and
    reports is the state it found under that lock, not what an earlier run left.
    """
    settings = validate(params)
    todo, warnings = _plan_under_shared_lock(settings, root)
    if check_mode or not _has_changes(todo):
        after = dict(todo["before"], **todo["runtime_changes"])
    else:
        todo, warnings, after = _plan_and_act_under_lock(settings, root, todo)
    return _result(settings, todo, after, want_diff), warnings


def _has_changes(todo):
    return bool(todo["file_changed"] or todo["runtime_changes"] or todo["leftovers"])


def _checked_plan(settings, root):
    todo = plan_changes(settings, root)
    warnings = _warn_or_refuse(settings, todo)
    if todo["runtime_changes"]:
        run_in_netns(settings["netns_path"], runtime.check_proc_dir, root, True)
    return todo, warnings


def _plan_under_shared_lock(settings, root):
    lock = runtime.FileLock(root, settings["path"])
    lock.acquire(exclusive=False, create=False)
    try:
        return _checked_plan(settings, root)
    finally:
        lock.release()


def _plan_and_act_under_lock(settings, root, first):
    # Create the lock file only when our file is to be written or removed (state=absent
    # removes the lock file too, at the end); a runtime-only change uses it when it exists
    # and never leaves one behind.
    absent = settings["state"] == "absent"
    create = bool(first["file_changed"])
    while True:
        lock = runtime.FileLock(root, settings["path"])
        held = lock.acquire(exclusive=True, create=create)
        done = False
        try:
            todo, warnings = _checked_plan(settings, root)
            if not held and todo["file_changed"]:
                create = True  # our file changed meanwhile: act on it under a lock
                continue
            after = _act(settings, todo, root) if _has_changes(todo) else todo["before"]
            done = True
        finally:
            lock.release(remove=done and absent, undo=not done)
        return todo, warnings, after


def _result(settings, todo, after, want_diff):
    result = {
        "changed": _has_changes(todo),
        "file_changed": todo["file_changed"],
        "runtime_changed": bool(todo["runtime_changes"]),
        "leftovers_removed": todo["leftovers"],
        "before": todo["before"],
        "after": after,
        "boot_values": todo["boot_values"],
        "boot_values_before": todo["boot_values_before"],
        "shadowed_by": todo["shadowed_by"],
        "boot_problems": todo["problems"],
        "file": settings["path"],
        "detection_seconds": detection_time(short_names(after)),
        "netns": _netns_facts(settings),
    }
    if want_diff:
        result["diff"] = _diff(settings, todo, after)
    return result


def _warn_or_refuse(settings, todo):
    warnings = []
    for problem in todo["problems"]:
        where = problem["file"]
        if problem["line"] is not None:
            where = "%s:%d" % (where, problem["line"])
        warnings.append("boot model: %s: %s" % (where, problem["reason"]))
    if settings["state"] == "present" and RETRIES2_OPTION in settings["wanted"]:
        low = retries2_warning(settings["wanted"][RETRIES2_OPTION])
        if low:
            warnings.append(low)
    if todo["shadowed_by"] and settings["on_shadowed"] != "ignore":
        text = _shadow_text(settings["path"], todo["shadowed_by"])
        if settings["on_shadowed"] == "fail":
            raise KeepaliveError(
                "%s; on_shadowed=fail; nothing was changed (remove or edit those entries, "
                "give path a later file name, or set on_shadowed=warn)" % text,
                shadowed_by=todo["shadowed_by"],
            )
        warnings.append(text)
    if settings["path"].startswith("/run/") and settings["persist"]:
        warnings.append(
            "path=%s: /run is emptied at every boot, so this file does not persist by itself "
            "(use /etc/sysctl.d unless something recreates it at boot)" % settings["path"]
        )
    container = container_warning(settings, todo["before"])
    if container:
        warnings.append(container)
    elif settings["netns"] and settings["persist"] and settings["state"] == "present":
        # A namespace made by `ip netns add` starts from kernel defaults; boot applies
        # sysctl.d only to the namespace the host boots with.
        warnings.append(
            "netns=%s: %s is applied at boot to the host's initial network namespace only; a "
            "re-created %s starts from kernel defaults unless 'sysctl --system' runs inside it"
            % (settings["netns"], settings["path"], settings["netns"])
        )
    return warnings


def container_warning(settings, before, read_owners=_netns_owner.read_owners):
    """The warning for a ``netns`` that a container or pod owns, or None.

    Its values can be set (nothing fails), but they vanish with the container: the next one
    starts from the kernel defaults, and the host's sysctl never reaches it. The warning
    gives the runtime's own setting for the values asked for (the namespace's current ones
    for the options not given).
    """
    if not settings["netns"] or settings["state"] != "present":
        return None
    try:
        inode = netns_inode(settings["netns_path"])
    except OSError:
        return None
    owner = read_owners([inode]).get(inode)
    if owner is None:
        return None
    values = dict(
        (name, settings["wanted"].get(option, before.get(option)))
        for name, option in zip(VALUE_NAMES, OPTION_NAMES)  # noqa: B905 - Python 3.6 hosts
    )
    text = (
        "netns=%s belongs to %s: a value set in its namespace vanishes with the container "
        "(the next one starts from the kernel defaults %s, and the host's sysctl never "
        "reaches it)" % (settings["netns"], owner["label"], _defaults_text())
    )
    # Imported here, for a container's namespace only: every other run of the module would
    # compile the policy code it pulls in (AnsiballZ compiles imports from source each run).
    from ansible_collections.netstack.keepalive.plugins.module_utils._policy import (
        _remediation_containers,
    )

    advice = (
        _remediation_containers.container_advice(owner, values)
        if None not in values.values()
        else None
    )
    if advice is None:
        return text + "; set the values in the runtime that starts it"
    return text + "; set them in the runtime: %s: %s (%s)" % (
        advice["where"],
        advice["set"],
        advice["doc"],
    )


def _defaults_text():
    return "/".join(str(LINUX_DEFAULTS[name]) for name in VALUE_NAMES)


def _shadow_text(path, entries):
    parts = []
    for entry in entries:
        if entry["key"] is None:
            parts.append("%s %s" % (entry["file"], entry["reason"]))
        else:
            parts.append(
                "%s:%d sets %s = %s" % (entry["file"], entry["line"], entry["key"], entry["value"])
            )
    return "%s is overridden at boot: %s" % (path, "; ".join(parts))


def _act(settings, todo, root):
    path = settings["path"]
    _remove_leftovers(settings, todo, root)
    if todo["file_changed"]:
        try:
            runtime.restore_file(root, path, todo["new_content"], todo["new_mode"])
        except (IOError, OSError) as exc:
            raise KeepaliveError(
                "path=%r: cannot write it: %s; allowed: a path in a writable sysctl.d "
                "directory with free space (or persist=false to set runtime values only); "
                "nothing was changed" % (path, exc.strerror or exc),
                option="path",
            )
    if not todo["runtime_changes"]:
        return todo["before"]
    try:
        return run_in_netns(
            settings["netns_path"],
            _write_runtime,
            root,
            todo["runtime_changes"],
            todo["before"],
            todo["extra"],
        )
    except KeepaliveError as exc:
        if todo["file_changed"]:
            raise KeepaliveError("%s; %s" % (exc, _put_back(root, path, todo)), **exc.details)
        raise


def _put_back(root, path, todo):
    try:
        runtime.restore_file(root, path, todo["old_content"], todo["old_mode"])
    except (IOError, OSError) as exc:
        return "putting %s back as it was FAILED: %s" % (path, exc.strerror or exc)
    return "%s was put back as it was" % path


def _remove_leftovers(settings, todo, root):
    # The lock file itself goes when the lock is released (state=absent).
    temporaries = [p for p in todo["leftovers"] if p != runtime.lock_file(settings["path"])]
    try:
        runtime.remove_paths(root, temporaries)
    except (IOError, OSError) as exc:
        raise KeepaliveError(
            "path=%r: cannot remove the temporary files a killed run left (%s): %s; allowed: "
            "a sysctl.d directory root can write; nothing else was changed"
            % (settings["path"], ", ".join(temporaries), exc.strerror or exc),
            option="path",
        )


def _netns_facts(settings):
    ns_path = settings["netns_path"]
    try:
        inode = netns_inode(ns_path or "/proc/self/ns/net")
    except OSError:
        inode = None
    return {"name": settings["netns"], "path": ns_path, "inode": inode}


def _render_runtime(values):
    return "".join("%s = %d\n" % (KEY_OF[o], values[o]) for o in SYSCTL_OPTIONS if o in values)


def _diff(settings, todo, after):
    where = "runtime (netns %s)" % (settings["netns"] or "of the module")
    file_diff = {
        "before_header": settings["path"],
        "after_header": settings["path"],
        "before": todo["old_content"] or "",
        "after": todo["new_content"] or "",
    }
    file_diff["before_header"] += _file_state(todo["old_content"], todo["old_mode"])
    file_diff["after_header"] += _file_state(todo["new_content"], todo["new_mode"])
    runtime_diff = {
        "before_header": where,
        "after_header": where,
        "before": _render_runtime(todo["before"]),
        "after": _render_runtime(after),
    }
    return [file_diff, runtime_diff]


def _file_state(content, mode):
    return " (absent)" if content is None else " (mode %04o)" % mode

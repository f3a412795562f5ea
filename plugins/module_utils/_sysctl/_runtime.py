# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runtime keepalive sysctls and our persistent file: read, write, undo.

This module_util is private to the netstack.keepalive collection; it may change at any time.

Runtime values are read and written through /proc/sys/net/ipv4 directly, never by running
``sysctl`` with user input. Callers that target another network namespace wrap these calls
in ``_netns.run_in_netns``: /proc/sys opened in that thread belongs to the namespace.
Every function takes ``root`` so unit tests can point it at a fake tree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import re
import stat
import time

from ansible_collections.netstack.keepalive.plugins.module_utils._files import (
    file_kind,
    fsync_directory,
    remove_quietly,
    write_temp_file,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._boot import (
    host_to_local,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    OPTION_NAMES,
    SYSCTL_KEY_OF,
    SYSCTL_KEYS,
)

PROC_IPV4 = "/proc/sys/net/ipv4"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Seconds a run waits for another run of the module holding the lock of the same file.
LOCK_TIMEOUT = 60.0


def proc_path(root, key):
    """Local path of the /proc/sys file for the dotted ``key``."""
    return host_to_local(root, "/proc/sys/" + key.replace(".", "/"))


def check_proc_dir(root, need_write):
    """Fail with the reason when /proc/sys/net/ipv4 cannot serve us (containers, non-Linux)."""
    local = host_to_local(root, PROC_IPV4)
    if not os.path.isdir(local):
        raise KeepaliveError(
            "%s does not exist: no IPv4 sysctls here (not Linux, IPv4 disabled, or /proc not "
            "mounted); keepalive_sysctl needs a Linux host with /proc mounted and IPv4 "
            "enabled; nothing was changed" % PROC_IPV4,
            option=OPTION_NAMES[0],
        )
    if need_write and not os.access(local + "/" + OPTION_NAMES[0], os.W_OK):
        raise KeepaliveError(
            "apply=true needs to set runtime values, but %s is read-only here (a container "
            "without write access to /proc/sys/net, or not root); allowed: apply=false to "
            "only persist them, or run as root where /proc/sys/net is writable; nothing was "
            "changed" % PROC_IPV4,
            option="apply",
        )


def read_runtime(root, keys):
    """Current runtime value of each dotted key, as ints."""
    values = {}
    for key in keys:
        try:
            with open(proc_path(root, key)) as handle:
                values[key] = int(handle.read().split()[0])
        except (IOError, OSError, ValueError, IndexError) as exc:
            raise KeepaliveError(
                "cannot read the runtime value of %s: %s; the module needs a readable "
                "/proc/sys/net/ipv4 (Linux, /proc mounted); nothing was changed"
                % (key, getattr(exc, "strerror", None) or exc),
                key=key,
            )
    return values


def read_keepalive_sysctls(root="/"):
    """The three keepalive sysctls of the calling thread's network namespace, by option
    name (``tcp_keepalive_time``...)."""
    values = read_runtime(root, SYSCTL_KEYS)
    return dict((option, values[SYSCTL_KEY_OF[option]]) for option in OPTION_NAMES)


def _write_proc_value(root, key, value):
    """One runtime write; the kernel checks the value when the file is written/closed."""
    with open(proc_path(root, key), "w") as handle:
        handle.write("%d\n" % value)


def write_runtime(root, wanted, previous):
    """Set each dotted key of ``wanted``; on a failure put back what was already written.

    ``previous`` holds the values before the change (from ``read_runtime``). Raises
    KeepaliveError naming the key that failed and whether the undo worked.
    """
    written = []
    for key in sorted(wanted):
        try:
            _write_proc_value(root, key, wanted[key])
        except (IOError, OSError) as exc:
            undo_error = _undo_runtime(root, written, previous)
            raise KeepaliveError(
                "setting %s=%s failed: %s; %s"
                % (key, wanted[key], exc.strerror or exc, _undo_text(written, undo_error)),
                key=key,
            )
        written.append(key)


def _undo_runtime(root, written, previous):
    for key in reversed(written):
        try:
            _write_proc_value(root, key, previous[key])
        except (IOError, OSError) as exc:
            return "%s: %s" % (key, exc.strerror or exc)
    return None


def _undo_text(written, undo_error):
    if undo_error:
        return "restoring the keys already written FAILED (%s)" % undo_error
    if written:
        return "restored %s to their previous values" % ", ".join(written)
    return "nothing had been written yet"


PATH_ALLOWED = (
    "allowed: a path that does not exist yet or a regular file this module wrote (it starts "
    "with the module's managed-by header)"
)


def read_text_file(root, path):
    """``(content, mode)`` of the host file ``path``, or ``(None, None)`` when absent.

    Only a regular file is opened, without blocking and without following a link: a FIFO
    at the path would hang a plain ``open()``, a link or a directory is not ours to replace.
    """
    local = host_to_local(root, path)
    try:
        info = os.lstat(local)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        raise _unreadable(path, exc)
    if not stat.S_ISREG(info.st_mode):
        raise KeepaliveError(
            "path=%r %s; refusing to read or replace it; %s; nothing was changed"
            % (path, _what_is_there(root, path, info.st_mode), PATH_ALLOWED),
            option="path",
        )
    try:
        fd = os.open(local, os.O_RDONLY | os.O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC)
    except (IOError, OSError) as exc:
        raise _unreadable(path, exc)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):  # swapped between lstat and open
            raise _unreadable(path, OSError(errno.EINVAL, "not a regular file"))
        content = handle.read().decode("utf-8", "replace")
    return content, info.st_mode & 0o7777


def _unreadable(path, exc):
    return KeepaliveError(
        "path=%r: cannot read it: %s; %s; nothing was changed"
        % (path, exc.strerror or exc, PATH_ALLOWED),
        option="path",
    )


def _what_is_there(root, path, mode):
    """What a non-regular file at ``path`` is, in words a person can act on."""
    if stat.S_ISLNK(mode):
        return _describe_link(root, path)
    return "is %s, not a regular file" % file_kind(mode)


def _describe_link(root, path):
    target = os.readlink(host_to_local(root, path))
    if _final_target(root, path) == "/dev/null":
        return (
            "is a symbolic link to /dev/null (-> %s): a mask, which switches this file name "
            "off at boot on purpose; remove the link first if the mask is no longer wanted" % target
        )
    if not os.path.exists(host_to_local(root, _final_target(root, path))):
        return "is a dangling symbolic link (-> %s)" % target
    return "is a symbolic link (-> %s); point path at the real file instead" % target


def _final_target(root, path):
    """Host path a chain of links at ``path`` ends at (absolute targets inside ``root``)."""
    host = path
    for _unused in range(40):
        local = host_to_local(root, host)
        if not os.path.islink(local):
            break
        host = os.path.normpath(os.path.join(os.path.dirname(host), os.readlink(local)))
    return host


def write_file_atomic(root, path, content, mode):
    """Replace ``path`` with ``content`` and ``mode`` all at once.

    A temp file in the same directory is written, fsynced, given its mode and renamed over
    the target, then the directory is fsynced: a reader (or a crash) sees the old file or
    the new one, never half of it. A missing sysctl.d directory (/run/sysctl.d on a fresh
    boot, /usr/local/lib/sysctl.d) is created with mode 0755.
    """
    local = host_to_local(root, path)
    directory = os.path.dirname(local)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    temp = write_temp_file(directory, os.path.basename(local), content, mode)
    try:
        os.rename(temp, local)
    except BaseException:
        remove_quietly(temp)
        raise
    fsync_directory(directory)


def remove_file(root, path):
    """Remove ``path`` (already gone is fine)."""
    try:
        os.unlink(host_to_local(root, path))
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
    fsync_directory(os.path.dirname(host_to_local(root, path)))


def restore_file(root, path, content, mode):
    """Put ``path`` back as it was: ``content`` None means it did not exist."""
    if content is None:
        remove_file(root, path)
    else:
        write_file_atomic(root, path, content, mode)


def temp_name_pattern(path):
    """Names ``write_file_atomic`` gives its temporary files for ``path`` (mkstemp's 8 chars)."""
    return re.compile(r"^\.%s\.[a-z0-9_]{8}$" % re.escape(os.path.basename(path)))


def lock_file(path):
    """The lock file beside ``path``: hidden, and not ``*.conf``, so boot never reads it."""
    return os.path.join(os.path.dirname(path), ".%s.lock" % os.path.basename(path))


def stale_temporaries(root, path):
    """Host paths of leftover temporary files of ``path`` (regular files of our pattern).

    Called while the runs of the module are serialised by the lock, so a temporary file is
    never one another run is still writing: it was left by a run that was killed.
    """
    directory = os.path.dirname(path)
    pattern = temp_name_pattern(path)
    try:
        names = os.listdir(host_to_local(root, directory))
    except OSError:
        return []
    found = []
    for name in sorted(names):
        host = directory + "/" + name
        if pattern.match(name) and _is_regular(host_to_local(root, host)):
            found.append(host)
    return found


def _is_regular(local):
    try:
        return stat.S_ISREG(os.lstat(local).st_mode)
    except OSError:
        return False


def remove_paths(root, paths):
    """Remove each host path (already gone is fine)."""
    for path in paths:
        try:
            os.unlink(host_to_local(root, path))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise


class FileLock(object):
    """An ``flock`` on the lock file beside our file: one run of the module at a time.

    ``acquire(exclusive, create)``: a shared lock lets readers (check mode) see a state no
    writer is half way through, without creating anything (no lock file: nothing to wait
    for); an exclusive lock, creating the lock file (and a missing sysctl.d directory) when
    ``create``, is what writers hold from their final plan to their last write. The lock
    file may be removed while held (``release(remove=True)``): a run that opened the old
    file notices that the path no longer leads to it and opens the new one.
    """

    def __init__(self, root, path):
        self.path = path
        self.host = lock_file(path)
        self.local = host_to_local(root, self.host)
        self.fd = None
        self.created = []  # local paths this run created: lock file, directory

    def acquire(self, exclusive, create):
        """True when held, False when there is no lock file and ``create`` is false."""
        if create:
            self._make_directory()
        deadline = time.time() + LOCK_TIMEOUT
        while True:
            fd = self._open(create)
            if fd is None:
                return False
            if self._lock(fd, exclusive, deadline) and self._still_the_lock_file(fd):
                self.fd = fd
                return True
            os.close(fd)

    def release(self, remove=False, undo=False):
        """Drop the lock; ``remove`` deletes the lock file, ``undo`` what this run created."""
        doomed = list(reversed(self.created)) if undo else []
        if remove and self.fd is not None and self.local not in doomed:
            doomed.insert(0, self.local)
        for local in doomed:
            _remove_entry(local)
        self.created = []
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _make_directory(self):
        missing = []
        directory = os.path.dirname(self.local)
        while not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for directory in reversed(missing):  # outermost first, as makedirs would
            try:
                os.mkdir(directory, 0o755)
            except OSError as exc:
                raise self._error("cannot create %s" % directory, exc)
            self.created.append(directory)

    def _open(self, create):
        flags = os.O_RDONLY | os.O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC
        while True:
            try:
                fd = os.open(self.local, flags)
                break
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise self._error("cannot open", exc)
            if not create:
                return None
            try:
                fd = os.open(self.local, flags | os.O_CREAT | os.O_EXCL, 0o600)
                self.created.append(self.local)
                break
            except OSError as exc:
                if exc.errno != errno.EEXIST:  # EEXIST: another run made it just now
                    raise self._error("cannot create", exc)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._error("cannot use it", OSError(errno.EINVAL, "not a regular file"))
        return fd

    def _lock(self, fd, exclusive, deadline):
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        pause = 0.002
        while True:
            try:
                fcntl.flock(fd, mode)
                return True
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise self._error("cannot lock", exc)
            if time.time() > deadline:
                os.close(fd)
                raise self._error(
                    "still held after %d s" % LOCK_TIMEOUT,
                    OSError(errno.EBUSY, "another run of keepalive_sysctl holds it"),
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _still_the_lock_file(self, fd):
        try:
            current = os.lstat(self.local)
        except OSError:
            return False  # removed by the run that held it: open the next one
        held = os.fstat(fd)
        return (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino)

    def _error(self, what, exc):
        return KeepaliveError(
            "path=%r: lock file %s: %s: %s; allowed: a sysctl.d directory root can write "
            "(or persist=false to set runtime values only); nothing was changed"
            % (self.path, self.host, what, exc.strerror or exc),
            option="path",
        )


def _remove_entry(local):
    try:
        if os.path.isdir(local) and not os.path.islink(local):
            os.rmdir(local)
        else:
            os.unlink(local)
    except OSError:
        pass  # not empty or already gone: leave it

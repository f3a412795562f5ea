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
import os
import tempfile

from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl_boot import (
    host_to_local,
)

PROC_IPV4 = "/proc/sys/net/ipv4"


def proc_path(root, key):
    """Local path of the /proc/sys file for the dotted ``key``."""
    return host_to_local(root, "/proc/sys/" + key.replace(".", "/"))


def check_proc_dir(root, need_write):
    """Fail with the reason when /proc/sys/net/ipv4 cannot serve us (containers, non-Linux)."""
    local = host_to_local(root, PROC_IPV4)
    if not os.path.isdir(local):
        raise KeepaliveError(
            "%s does not exist: no IPv4 sysctls here (not Linux, IPv4 disabled, or /proc not "
            "mounted); nothing was changed" % PROC_IPV4,
            option="tcp_keepalive_time",
        )
    if need_write and not os.access(local + "/tcp_keepalive_time", os.W_OK):
        raise KeepaliveError(
            "%s is read-only here (a container without write access to /proc/sys/net, or "
            "not root): cannot set runtime values; set apply=false to only persist them; "
            "nothing was changed" % PROC_IPV4,
            option="apply",
        )


def read_runtime(root, keys):
    """Current runtime value of each dotted key, as ints."""
    values = {}
    for key in keys:
        with open(proc_path(root, key)) as handle:
            values[key] = int(handle.read().split()[0])
    return values


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


def read_text_file(root, path):
    """``(content, mode)`` of the host file ``path``, or ``(None, None)`` when absent."""
    local = host_to_local(root, path)
    try:
        with open(local, "rb") as handle:
            content = handle.read().decode("utf-8", "replace")
        return content, os.stat(local).st_mode & 0o7777
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        raise KeepaliveError(
            "path=%r: cannot read it: %s" % (path, exc.strerror or exc), option="path"
        )


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
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(local), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, local)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_dir(directory)


def remove_file(root, path):
    """Remove ``path`` (already gone is fine)."""
    try:
        os.unlink(host_to_local(root, path))
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
    _fsync_dir(os.path.dirname(host_to_local(root, path)))


def restore_file(root, path, content, mode):
    """Put ``path`` back as it was: ``content`` None means it did not exist."""
    if content is None:
        remove_file(root, path)
    else:
        write_file_atomic(root, path, content, mode)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still done
    finally:
        os.close(fd)

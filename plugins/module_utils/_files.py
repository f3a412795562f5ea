# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File handling the modules and the fleet report share: atomic writes, kinds of file.

This module_util is private to the netstack.keepalive collection; it may change at any time.

A file is replaced atomically by writing a temporary file in the same directory, syncing it,
renaming it over the target and syncing the directory: a reader (or a crash) sees the old file
or the new one, never half of it. The callers do the rename: keepalive_sysctl replaces one
file, the report renames a set of files with a way back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import tempfile

# What a path that is not a regular file is, in words for a message (the article included).
_FILE_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)
REGULAR_FILE = "a regular file"
FIFO = "a FIFO (named pipe)"


def file_kind(mode):
    """``a regular file``, ``a directory``, ``a FIFO (named pipe)``... for an ``st_mode``."""
    for test, kind in _FILE_KINDS:
        if test(mode):
            return kind
    return "a special file"


def write_temp_file(directory, name, content, mode, suffix=""):
    """Path of a new temporary file ``.NAME.XXXXXXXX`` + ``suffix`` in ``directory`` holding
    ``content`` (text, written as UTF-8), synced to disk and given ``mode``; a failure at any
    step removes it again."""
    fd, temp = tempfile.mkstemp(prefix=".%s." % name, suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
    except BaseException:
        remove_quietly(temp)
        raise
    return temp


def fsync_directory(directory):
    """Make the renames in ``directory`` durable, where the filesystem lets us."""
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


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass

# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bodies of the policy filters for playbook authors (keepalive_derive and its siblings).

This plugin_util is private to the netstack.keepalive collection; it may change at any time.
Each filter is a thin wrapper over module_utils/_policy.py, the code the role and the modules
use, so a value or verdict computed in a template is the one the collection enforces. Each
filter's entry point and documentation is plugins/filter/<filter name>.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netstack.keepalive.plugins.module_utils._policy import _engine as policy
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)


def policy_call(label, func, *args, **kwargs):
    """``func(*args, **kwargs)``; the policy code's one exception type becomes the filter error
    Ansible shows, its message after ``label: `` (or bare when ``label`` is None)."""
    try:
        return func(*args, **kwargs)
    except KeepaliveError as exc:
        message = str(exc) if label is None else "%s: %s" % (label, exc)
        raise AnsibleFilterError(message) from None


def keepalive_derive(profile, path=None, profiles=None):
    """Values for a profile (name or mapping) on a path, with provenance and verdicts."""
    return policy_call("keepalive_derive", policy.derive, profile, path, profiles=profiles)


def keepalive_verdicts(
    values,
    path=None,
    profile=None,
    profiles=None,
    socket_count=None,
    probe_rate_warn=policy.DEFAULT_PROBE_RATE_WARN,
    retries2=None,
):
    """Verdicts for given values (e.g. read from a host) against a path and a profile."""
    return policy_call(
        "keepalive_verdicts",
        policy.verdicts,
        values,
        path,
        profile=profile,
        socket_count=socket_count,
        profiles=profiles,
        probe_rate_warn=probe_rate_warn,
        retries2=retries2,
    )


def keepalive_catalog(entry_id):
    """The catalog entry for a middlebox id, as a mapping."""
    return policy_call("keepalive_catalog", policy.catalog_entry, entry_id)


def keepalive_path(items):
    """A path's items resolved to boxes with their timeouts and where each came from."""
    boxes = policy_call("keepalive_path", policy.resolve_path, items)
    return [box.to_dict() for box in boxes]


def keepalive_summary(verdicts):
    """Worst status, counts per status and the non-passing messages of a verdict list."""
    if not _is_verdict_list(verdicts):
        raise AnsibleFilterError(
            "keepalive_summary: input must be a list of verdicts "
            "({check, subject, status: pass|warn|fail, value, limit, message})"
        )
    return policy.summarize(verdicts)


def _is_verdict_list(verdicts):
    return isinstance(verdicts, list) and all(
        isinstance(item, dict) and item.get("status") in policy.STATUSES for item in verdicts
    )

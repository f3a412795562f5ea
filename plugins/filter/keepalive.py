# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keepalive policy filters for playbook authors.

They call the same functions as the role and the modules (module_utils/_policy.py), so a
value or verdict computed in a template is the one the collection enforces. Each filter is
documented in its own ``<filter_name>.yml`` next to this file (``ansible-doc -t filter``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netstack.keepalive.plugins.module_utils import _policy as policy
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)


def _policy_call(name, func, *args, **kwargs):
    """Run a policy function; its one exception type becomes the filter error Ansible shows."""
    try:
        return func(*args, **kwargs)
    except KeepaliveError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from None


def keepalive_derive(profile, path=None, profiles=None):
    """Values for a profile (name or mapping) on a path, with provenance and verdicts."""
    return _policy_call("keepalive_derive", policy.derive, profile, path, profiles=profiles)


def keepalive_verdicts(values, path=None, profile=None, profiles=None, socket_count=None,
                       probe_rate_warn=policy.DEFAULT_PROBE_RATE_WARN):  # fmt: skip
    """Verdicts for given values (e.g. read from a host) against a path and a profile."""
    return _policy_call(
        "keepalive_verdicts", policy.verdicts, values, path, profile=profile,
        socket_count=socket_count, profiles=profiles, probe_rate_warn=probe_rate_warn,
    )  # fmt: skip


def keepalive_catalog(entry_id):
    """The catalog entry for a middlebox id, as a mapping."""
    return _policy_call("keepalive_catalog", policy.catalog_entry, entry_id)


def keepalive_path(items):
    """A path's items resolved to boxes with their timeouts and where each came from."""
    boxes = _policy_call("keepalive_path", policy.resolve_path, items)
    return [box.to_dict() for box in boxes]


def keepalive_summary(verdicts):
    """Worst status, counts per status and the non-passing messages of a verdict list."""
    if not isinstance(verdicts, list) or not all(
        isinstance(item, dict) and item.get("status") in policy.STATUSES for item in verdicts
    ):
        raise AnsibleFilterError(
            "keepalive_summary: input must be a list of verdicts "
            "({check, subject, status: pass|warn|fail, value, limit, message})"
        )
    return policy.summarize(verdicts)


class FilterModule:
    """netstack.keepalive policy filters."""

    def filters(self):
        return {
            "keepalive_derive": keepalive_derive,
            "keepalive_verdicts": keepalive_verdicts,
            "keepalive_catalog": keepalive_catalog,
            "keepalive_path": keepalive_path,
            "keepalive_summary": keepalive_summary,
        }

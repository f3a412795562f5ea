# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception type of the collection.

This module_util is private to the netstack.keepalive collection; it may change at any time.

Every check in module_utils raises ``KeepaliveError`` with a message a person can act on
(the option, the value, the allowed range or the reason). Modules catch it in exactly one
place and turn it into ``fail_json``; filter plugins turn it into ``AnsibleFilterError``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class KeepaliveError(Exception):
    """A problem the user can fix; ``str(exc)`` is the whole message."""

    def __init__(self, message, **details):
        super(KeepaliveError, self).__init__(message)
        self.details = details

# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: one JSON line per task result, for tests/integration/conftest.py.

It is an aggregate callback (the normal screen output stays), enabled by the tests with
``ANSIBLE_CALLBACKS_ENABLED=json_results`` and writing to ``$NETSTACK_RESULTS_FILE``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: json_results
type: aggregate
short_description: write every task result as a JSON line to $NETSTACK_RESULTS_FILE
description: Test-only; used by the integration tests of netstack.keepalive.
"""

import json  # noqa: E402  (plugin docs come first, as ansible-test expects)
import os  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "json_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get("NETSTACK_RESULTS_FILE")

    def _record(self, status, result):
        if not self._path:
            return
        task = result.task
        line = {
            "host": result.host.get_name(),
            "task": result.task_name,
            "action": task.action if task is not None else None,
            "status": status,
            "result": result.result,
        }
        with open(self._path, "a") as out:
            out.write(json.dumps(line, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record("changed" if result.result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

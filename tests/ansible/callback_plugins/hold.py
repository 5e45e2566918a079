# Test helper, not part of the collection: stops the play at the start of a named task, so that a test
# can do something to the host right there (tests/checkpoint/test_power_cut_lane.py cuts its power).
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: hold
type: aggregate
short_description: hold the play at the start of a named task until the test kills ansible-playbook
description:
  - Test helper. When a task named $NETSAFE_HOLD_TASK (its own name, without a role's prefix) starts, writes
    $NETSAFE_HOLD_FILE (the task's name and this process's pid) and waits, so that nothing more is sent to any
    host; the test kills the process.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hold"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_task_start(self, task, is_conditional):
        wanted, marker = os.environ.get("NETSAFE_HOLD_TASK"), os.environ.get("NETSAFE_HOLD_FILE")
        if not wanted or not marker or task.name != wanted:   # the name without the role's prefix
            return
        with open(marker + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"task": task.name, "pid": os.getpid(), "at": time.time()}, handle)
        os.rename(marker + ".tmp", marker)
        while True:   # the test kills the process; the task's module is never sent
            time.sleep(1)

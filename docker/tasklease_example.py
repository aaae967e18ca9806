"""Example handler for the compose workers: `tasklease worker tasklease_example:handle`.

A task's payload may carry {"sleep": seconds} (default 1) and {"fail": true}. The handler
waits on task.lease_lost instead of sleeping blindly: when the worker's renewal finds the
lease gone (the reaper took the task back), the handler stops early, because any result it
returned would be refused anyway. Its return value is stored as the task's result.
"""

from __future__ import annotations

import socket
from typing import Any


def handle(task: Any) -> dict[str, Any]:
    payload = task.payload if isinstance(task.payload, dict) else {}
    seconds = float(payload.get("sleep", 1))
    if task.lease_lost.wait(seconds):
        raise RuntimeError(f"lease of task {task.id} lost after a renewal failed; giving up")
    if payload.get("fail"):
        raise RuntimeError(f"task {task.id} asked to fail (attempt {task.attempts})")
    return {
        "host": socket.gethostname(),
        "task_id": task.id,
        "lease_token": task.lease_token,
        "slept_s": seconds,
    }

"""The no-op handler of the end-to-end worker section: ``tasklease worker bench.noop:handle``."""

from __future__ import annotations

import time
from typing import Any


def handle(task: Any) -> None:
    """Does nothing: the measurement is the queue's overhead per task."""
    return None


def sleep1ms(task: Any) -> dict:
    """A 1 ms handler that reports when it started (wall clock of this host, the clock the
    database on this host reads too): the steady and burst sections' pickup latency."""
    started = time.time()
    time.sleep(0.001)
    return {"started": started}


def hold(task: Any) -> None:
    """Sleeps payload["hold_s"] seconds: a task that is running when its worker is killed."""
    time.sleep(float(task.payload.get("hold_s", 60)))


async def ahandle(task: Any) -> None:
    """The same as a coroutine: ``tasklease worker bench.noop:ahandle`` runs an AsyncWorker."""
    return None

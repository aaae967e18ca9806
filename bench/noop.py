"""The no-op handler of the end-to-end worker section: ``tasklease worker bench.noop:handle``."""

from __future__ import annotations

from typing import Any


def handle(task: Any) -> None:
    """Does nothing: the measurement is the queue's overhead per task."""
    return None


async def ahandle(task: Any) -> None:
    """The same as a coroutine: ``tasklease worker bench.noop:ahandle`` runs an AsyncWorker."""
    return None

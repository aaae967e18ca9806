"""The Task of an AsyncWorker: tasklease.worker.Task whose lease_lost is a LoopEvent, an
asyncio.Event that the worker's threads (renewals, deadlines, the completer) may set."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from ..worker.task import Task


class LoopEvent(asyncio.Event):
    """An asyncio.Event of one loop that any thread may set(): from another thread the
    wake-up of its waiters is handed to the loop (call_soon_threadsafe), while is_set() is
    true at once, so a blocked loop does not hide the news from code that only looks.
    Never cleared by the worker."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._home = loop
        self._home_thread = threading.get_ident()
        self._seen = False

    def set(self) -> None:
        self._seen = True
        if threading.get_ident() == self._home_thread:
            super().set()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody can wait
            self._home.call_soon_threadsafe(super().set)

    def is_set(self) -> bool:
        return self._seen or super().is_set()

    def clear(self) -> None:
        self._seen = False
        super().clear()


def new_task(row: tuple, lease_until: float, loop: asyncio.AbstractEventLoop) -> Task:
    """A Task of an AsyncWorker from a claimed_task row (id, queue, payload, attempts,
    lease_token, ...)."""
    return Task(row[0], row[1], row[2], row[3], row[4], lease_lost=LoopEvent(loop),
                lease_until=lease_until)

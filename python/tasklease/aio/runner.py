"""Runner: the handler coroutines of an AsyncWorker, one asyncio task per claimed task, at
most `concurrency` of them inside the handler at a time (the others, claimed ahead, wait
in Waiting: worker/ahead.py; one withdrawn from there never starts); no database I/O.  The
asyncio twin of tasklease.worker.slots.

Whatever the handler returns or raises (BaseException included: SystemExit,
KeyboardInterrupt, GeneratorExit, and a CancelledError the worker did not ask for) becomes
an Outcome (outcomes.py) handed to deliver(); none of it reaches the event loop.  Only the
worker's own cancellation, at the end of a graceful stop, ends a handler without an
outcome: its task has been given back by then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from ..worker.ahead import Waiting
from ..worker.events import kv, log, one_line
from ..worker.outcomes import Outcome, outcome_of_exception, outcome_of_return
from ..worker.task import Task

Handler = Callable[[Task], Awaitable[Any]]


class Runner:
    def __init__(self, handler: Handler, deliver: Callable[[Outcome], None], owner: str,
                 concurrency: int = 1, waiting: Optional[Waiting] = None,
                 timed: Optional[Callable[[float], None]] = None) -> None:
        self._handler = handler
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting = waiting if waiting is not None else Waiting()
        self._timed = timed or (lambda seconds: None)
        self._deliver = deliver
        self._owner = owner
        self._closed = False
        self._cancelling = False
        self._running: set[asyncio.Task] = set()
        self._busy = 0  # handlers submitted and not ended (their outcome may be unstored)

    def busy(self) -> int:
        """How many handler slots are taken: the claim loop claims for the others.  Counted
        down when the handler ends, before its outcome is delivered, so the claim loop that
        the delivery wakes already counts that slot free."""
        return self._busy

    def submit(self, task: Task) -> None:
        """Run the handler for task (it starts at the loop's next turn)."""
        self._waiting.add(task)
        future = asyncio.ensure_future(self._serve(task))
        self._busy += 1
        self._running.add(future)
        future.add_done_callback(self._running.discard)

    def close(self) -> None:
        """No handler starts from now on (a task not started yet stays so, to be released)."""
        self._closed = True

    async def cancel(self, wait_s: float) -> int:
        """Cancel the handlers still running (their tasks were given back) and wait up to
        wait_s for them to end; how many did not end in time."""
        self._cancelling = True
        running = list(self._running)
        for future in running:
            future.cancel()
        if not running:
            return 0
        _, pending = await asyncio.wait(running, timeout=wait_s)
        return len(pending)

    async def _serve(self, task: Task) -> None:
        try:
            try:
                async with self._slots:
                    outcome = await self._execute(task)
            finally:
                self._busy -= 1
            if outcome is not None:
                self._deliver(outcome)
        except asyncio.CancelledError:
            if self._cancelling:
                raise
            log.error(kv("runner_error", worker=self._owner, task=task.id,
                         error="CancelledError"))
        except BaseException as exc:  # noqa: BLE001 - nothing a handler does reaches the loop
            log.error(kv("runner_error", worker=self._owner, task=task.id, error=one_line(exc)))

    async def _execute(self, task: Task) -> Optional[Outcome]:
        if self._closed or not self._waiting.begin(task):
            return None  # stopping (to be released), or withdrawn (given back)
        task.started = True
        began = time.monotonic()
        try:
            value = await self._handler(task)
        except asyncio.CancelledError as exc:
            if self._cancelling:
                raise  # the graceful stop ended it: its task is given back already
            task.finished = True
            self._timed(time.monotonic() - began)
            return outcome_of_exception(task, exc)
        except BaseException as exc:  # noqa: BLE001 - any handler exit becomes fail_task
            task.finished = True
            self._timed(time.monotonic() - began)
            return outcome_of_exception(task, exc)
        task.finished = True
        self._timed(time.monotonic() - began)
        return outcome_of_return(task, value)

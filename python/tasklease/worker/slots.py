"""Slots: `concurrency` threads that run the handler; no database I/O.

free() says how many slots have no task (a submitted task counts as taken until its
handler has returned or raised, or a slot has skipped it): the worker claims that many,
and more while it claims ahead (worker/ahead.py); a submitted task waits in Waiting until
a slot starts it, and one withdrawn from there is skipped, never started.

A slot never dies: whatever the handler returns or raises (BaseException included:
SystemExit, KeyboardInterrupt, GeneratorExit) becomes an Outcome, encoded here on the slot
thread, and handed to deliver().  Slots are daemon threads, so a handler that never returns
cannot keep the process from exiting after a graceful stop has given its task back.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

from .ahead import Waiting
from .events import kv, log, one_line
from .outcomes import Outcome, outcome_of_exception, outcome_of_return
from .task import Task


class Slots:
    def __init__(self, handler: Callable[[Task], Any], concurrency: int,
                 deliver: Callable[[Outcome], None], owner: str,
                 waiting: Optional[Waiting] = None,
                 timed: Optional[Callable[[float], None]] = None) -> None:
        self._handler = handler
        self._waiting = waiting if waiting is not None else Waiting()
        self._timed = timed or (lambda seconds: None)
        self._concurrency = concurrency
        self._deliver = deliver
        self._owner = owner
        self._work: queue.Queue[Optional[Task]] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._taken = 0  # tasks submitted whose handler has not ended; under _lock
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self._concurrency):
            t = threading.Thread(target=self._serve, name=f"tasklease-slot-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, task: Task) -> None:
        with self._lock:
            self._taken += 1
        self._waiting.add(task)
        self._work.put(task)

    def free(self) -> int:
        """Slots without a task: neither running a handler nor about to."""
        with self._lock:
            return self._concurrency - self._taken

    def close(self) -> None:
        """No handler starts from now on (what is queued stays unstarted, to be released)."""
        with self._lock:
            self._closed = True

    def stop(self) -> None:
        """Let idle slots end; a slot still inside a handler is left to the process exit."""
        self.close()
        for _ in self._threads:
            self._work.put(None)

    def _serve(self) -> None:
        while True:
            task = self._work.get()
            if task is None:
                return
            try:
                try:
                    outcome = self._execute(task)
                finally:
                    with self._lock:
                        self._taken -= 1
                if outcome is not None:
                    self._deliver(outcome)
            except BaseException as exc:  # noqa: BLE001 - a slot outlives any failure
                log.error(kv("slot_error", worker=self._owner, task=task.id,
                             error=one_line(exc)))

    def _execute(self, task: Task) -> Optional[Outcome]:
        if not self._begin(task):
            return None
        began = time.monotonic()
        try:
            value = self._handler(task)
        except BaseException as exc:  # noqa: BLE001 - any handler exit becomes fail_task
            task.finished = True
            self._timed(time.monotonic() - began)
            return outcome_of_exception(task, exc)
        task.finished = True
        self._timed(time.monotonic() - began)
        return outcome_of_return(task, value)

    def _begin(self, task: Task) -> bool:
        with self._lock:
            if self._closed or not self._waiting.begin(task):
                return False  # stopping (to be released), or withdrawn (given back)
            task.started = True
            return True

"""Claiming ahead: a worker whose handlers are short claims up to `prefetch` tasks beyond
its free slots, so that a slot whose handler ends starts the next task at once, and the
outcomes that came in meanwhile go to the database together with the next claim (one
round trip and one commit for several tasks, not one per task).

Ahead says how many: `prefetch` while the handlers' recent mean duration is under
AHEAD_BELOW_S, none before a handler has been timed or once they are slower (a task
claimed ahead of a long handler would only wait, leased, while another worker could run
it).  Waiting holds the tasks handed to the slots and not started yet; when the oldest
has waited longer than AHEAD_WAIT_LIMIT_S (every slot is held by handlers far slower than
the mean: a hang, a long task among short ones), all of them are withdrawn, never
started, and given back free with release_tasks, keeping their place in the queue.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

from .task import Task

AHEAD_BELOW_S = 0.01  # claim ahead only while handlers take less than this on average
AHEAD_WAIT_LIMIT_S = 1.0  # a task claimed ahead that waited longer is given back
AHEAD_WEIGHT = 0.2  # weight of the newest duration in the running mean
RELEASE_TASKS_SQL = "SELECT * FROM tasklease.release_tasks(%s, %s, %s)"


class Ahead:
    def __init__(self, prefetch: int) -> None:
        self.prefetch = prefetch  # at most this many tasks beyond the free slots
        self._mean: Optional[float] = None  # seconds; updates race harmlessly

    def record(self, seconds: float) -> None:
        """A handler took seconds."""
        mean = self._mean
        self._mean = seconds if mean is None else mean + AHEAD_WEIGHT * (seconds - mean)

    def depth(self) -> int:
        """How many tasks to claim beyond the free slots now."""
        mean = self._mean
        return self.prefetch if mean is not None and mean < AHEAD_BELOW_S else 0


class Waiting:
    """The tasks handed to the slots whose handler has not started, oldest first (any
    thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[int, tuple[float, Task]] = {}  # by id(task): a task id may come back

    def add(self, task: Task) -> None:
        with self._lock:
            self._tasks[id(task)] = (time.monotonic(), task)

    def begin(self, task: Task) -> bool:
        """The slot is about to start task: False if it was withdrawn (do not start it)."""
        with self._lock:
            return self._tasks.pop(id(task), None) is not None

    def withdraw_stale(self, now: float, limit_s: float = AHEAD_WAIT_LIMIT_S) -> list[Task]:
        """Every waiting task, withdrawn, when the oldest has waited longer than limit_s;
        else none."""
        with self._lock:
            if not self._tasks:
                return []
            oldest = next(iter(self._tasks.values()))[0]
            if now - oldest <= limit_s:
                return []
            out = [t for _, t in self._tasks.values()]
            self._tasks.clear()
            return out

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)

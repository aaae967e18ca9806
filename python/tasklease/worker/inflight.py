"""InFlight: the tasks a worker holds, from claim until their outcome is stored or dropped.

Shared by every thread of the worker: the main loop adds, the completer and the shutdown
remove, the lease keeper and the deadline watch read.  One lock guards the dict; the Task
objects themselves follow the ownership rules of the package docstring.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..metrics import Metrics
from .events import kv, log
from .task import Task


class InFlight:
    def __init__(self, owner: str, metrics: Metrics) -> None:
        self.owner = owner
        self.metrics = metrics
        self._lock = threading.Lock()
        self._tasks: dict[int, Task] = {}

    def add(self, task: Task) -> None:
        with self._lock:
            self._tasks[task.id] = task
            self.metrics.set_in_flight(len(self._tasks))

    def forget(self, tasks: Iterable[Task]) -> None:
        with self._lock:
            for t in tasks:
                if self._tasks.get(t.id) is t:
                    del self._tasks[t.id]
            self.metrics.set_in_flight(len(self._tasks))

    def take_all(self) -> list[Task]:
        """Every task, removed (the shutdown gives them back)."""
        with self._lock:
            tasks = list(self._tasks.values())
            self._tasks.clear()
            self.metrics.set_in_flight(0)
        return tasks

    def snapshot(self) -> list[Task]:
        with self._lock:
            return list(self._tasks.values())

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._tasks)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)

    def lost(self, task: Task, reason: str) -> None:
        """The lease is known or presumed gone: tell the handler (task.lease_lost), count
        it once, log it (again only for a reason other than a passed deadline)."""
        first = not task.lease_lost.is_set()
        task.lease_lost.set()
        if first:
            self.metrics.inc("lost_leases")
        if first or reason not in ("deadline", "heartbeat_deadline"):
            log.warning(kv("lease_lost", worker=self.owner, task=task.id,
                           token=task.lease_token, reason=reason))

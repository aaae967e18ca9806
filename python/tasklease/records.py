"""What the clients return: plain, frozen records of tasks, queues, workers and the reaper
log (no I/O; shared by tasklease.Client and tasklease.AsyncClient)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class TaskInfo:
    """One row of tasklease.tasks."""

    id: int
    queue: str
    payload: Any
    priority: int
    status: str
    run_after: dt.datetime
    attempts: int
    max_attempts: int
    requeue_count: int
    owner_id: Optional[str]
    lease_token: Optional[int]
    lease_expires_at: Optional[dt.datetime]
    last_heartbeat: Optional[dt.datetime]
    result: Any
    last_error: Optional[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: Optional[dt.datetime]
    dedupe_key: Optional[str] = None


@dataclass(frozen=True)
class Enqueued:
    """One enqueued payload: the task's id, and whether this call added it (False: a task
    holding its de-duplication key was there already, and that task's id is returned)."""

    id: int
    created: bool


@dataclass(frozen=True)
class QueueState:
    """One row of tasklease.queues: a queue's limit, pause and live counts."""

    queue: str
    state: str
    max_running: Optional[int]
    queued: int
    runnable: int
    running: int


@dataclass(frozen=True)
class QueueCount:
    queue: str
    status: str
    tasks: int


@dataclass(frozen=True)
class WorkerInfo:
    owner_id: str
    state: str
    alive: bool
    tasks_held: int
    seconds_since_heartbeat: float
    host: Optional[str]
    pid: Optional[int]


@dataclass(frozen=True)
class StaleTask:
    """One row of tasklease.stale_tasks: what the reaper would do now, and why."""

    task_id: int
    action: str
    reason: str
    owner_id: Optional[str]
    attempts: int
    requeue_count: int
    queue: str


@dataclass(frozen=True)
class ReaperEntry:
    """One row of tasklease.reaper_log: a requeue, failure or release, and who decided it."""

    at: dt.datetime
    task_id: int
    action: str
    reason: str
    owner_id: Optional[str]
    attempts: int
    actor: str


@dataclass(frozen=True)
class Snapshot:
    """Everything `tasklease status` shows, read at one moment (one statement each)."""

    counts: list[QueueCount]
    workers: list[WorkerInfo]
    stale: list[StaleTask]
    reaper_log: list[ReaperEntry]
    queues: list[QueueState] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    counts: list[QueueCount] = field(default_factory=list)
    workers: list[WorkerInfo] = field(default_factory=list)
    stale_tasks: int = 0

    def count(self, status: str, queue: Optional[str] = None) -> int:
        """Tasks in status (of queue, or of every queue)."""
        return sum(c.tasks for c in self.counts
                   if c.status == status and (queue is None or c.queue == queue))

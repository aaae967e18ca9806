"""The producer-side library: enqueue, look up, cancel, and queue statistics.

    with tasklease.Client(dsn) as client:
        task_id = client.enqueue({"to": "a@example.org"}, queue="mail")
        # At most one queued or running task per key: the second call returns the first task.
        first = client.enqueue_unique({"invoice": 42}, "invoice:42", queue="billing")
        again = client.enqueue_unique({"invoice": 42}, "invoice:42", queue="billing")
        assert again.id == first.id and first.created and not again.created
        print(client.get(task_id).status)

No I/O happens in the constructor: the connection opens on first use (or on
__enter__) and closes with close() / __exit__.  Database errors with a TL
SQLSTATE are raised as tasklease.errors exceptions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .db import connect, translate_errors


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


#: A de-duplication window: a timedelta, or a number of seconds.
Window = Union[dt.timedelta, float, None]


def _window(value: Window) -> Optional[dt.timedelta]:
    if value is None or isinstance(value, dt.timedelta):
        return value
    return dt.timedelta(seconds=value)


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
class QueueState:
    """One row of tasklease.queues: a queue's limit, pause and live counts."""

    queue: str
    state: str
    max_running: Optional[int]
    queued: int
    runnable: int
    running: int


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


_TASK_FIELDS = [f for f in TaskInfo.__dataclass_fields__]
# run_after: a datetime, or a timestamp text PostgreSQL parses; delay_s: seconds from the
# database's now().  At most one of the two; neither means now.
RunAfter = Union[dt.datetime, str, None]
_RUN_AFTER_SQL = "coalesce(%s::timestamptz, now() + make_interval(secs => coalesce(%s, 0)))"


def _run_after(run_after: RunAfter, delay_s: Optional[float]) -> tuple[RunAfter, Optional[float]]:
    if run_after is not None and delay_s is not None:
        raise ValueError("give run_after or delay_s, not both")
    return run_after, None if delay_s is None else float(delay_s)


class Client:
    """A producer's connection to tasklease (application_name tasklease:<app>)."""

    def __init__(self, dsn: Optional[str] = None, app: str = "client") -> None:
        self.dsn = dsn
        self.app = app
        self._conn: Optional[psycopg.Connection] = None

    # ------------------------------------------------------------ connection
    def open(self) -> Client:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.dsn, self.app)
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> psycopg.Connection:
        self.open()
        assert self._conn is not None
        return self._conn

    # ------------------------------------------------------------------- API
    def enqueue(
        self,
        payload: Any,
        queue: str = "default",
        *,
        run_after: RunAfter = None,
        delay_s: Optional[float] = None,
        priority: int = 0,
        max_attempts: Optional[int] = None,
        dedupe_key: Optional[str] = None,
        dedupe_for: Window = None,
    ) -> int:
        """Add one task; returns its id.  It runs from run_after, or delay_s seconds from
        now on the database's clock (never this machine's), or now.  With dedupe_key: the
        id of the queued or running task of this queue holding that key (or one finished
        within dedupe_for), if any, instead of adding another; enqueue_unique also says
        which it was."""
        with translate_errors():
            row = self.conn.execute(
                f"SELECT tasklease.enqueue(%s, %s, {_RUN_AFTER_SQL}, %s, %s, %s, %s)",
                (Jsonb(payload), queue, *_run_after(run_after, delay_s), priority, max_attempts,
                 dedupe_key, _window(dedupe_for)),
            ).fetchone()
        assert row is not None
        return row[0]

    def enqueue_unique(
        self,
        payload: Any,
        dedupe_key: str,
        queue: str = "default",
        *,
        dedupe_for: Window = None,
        run_after: RunAfter = None,
        delay_s: Optional[float] = None,
        priority: int = 0,
        max_attempts: Optional[int] = None,
    ) -> Enqueued:
        """Add one task unless a task of this queue holds dedupe_key: queued or running, or
        finished less than dedupe_for ago.  Enqueued(id, created) says which happened."""
        (result,) = self.enqueue_tasks(
            [payload], queue, run_after=run_after, delay_s=delay_s, priority=priority,
            max_attempts=max_attempts, dedupe_keys=[dedupe_key], dedupe_for=dedupe_for,
        )
        return result

    def enqueue_many(
        self,
        payloads: Iterable[Any],
        queue: str = "default",
        *,
        run_after: RunAfter = None,
        delay_s: Optional[float] = None,
        priority: int = 0,
        max_attempts: Optional[int] = None,
        dedupe_keys: Optional[Sequence[Optional[str]]] = None,
        dedupe_for: Window = None,
    ) -> list[int]:
        """Add one task per payload with one statement; returns the ids in order.  run_after
        and delay_s as for enqueue(); dedupe_keys: one key (or None) per payload."""
        return [e.id for e in self.enqueue_tasks(
            payloads, queue, run_after=run_after, delay_s=delay_s, priority=priority,
            max_attempts=max_attempts, dedupe_keys=dedupe_keys, dedupe_for=dedupe_for,
        )]

    def enqueue_tasks(
        self,
        payloads: Iterable[Any],
        queue: str = "default",
        *,
        run_after: RunAfter = None,
        delay_s: Optional[float] = None,
        priority: int = 0,
        max_attempts: Optional[int] = None,
        dedupe_keys: Optional[Sequence[Optional[str]]] = None,
        dedupe_for: Window = None,
    ) -> list[Enqueued]:
        """enqueue_many that also says, per payload, whether its task is new."""
        values: Sequence[Jsonb] = [Jsonb(p) for p in payloads]
        if not values:
            return []
        with translate_errors():
            rows = self.conn.execute(
                "SELECT id, created FROM tasklease.enqueue_tasks(%s::jsonb[], %s, "
                f"{_RUN_AFTER_SQL}, %s, %s, %s::text[], %s)",
                (list(values), queue, *_run_after(run_after, delay_s), priority, max_attempts,
                 None if dedupe_keys is None else list(dedupe_keys), _window(dedupe_for)),
            ).fetchall()
        return [Enqueued(r[0], r[1]) for r in rows]

    def get(self, task_id: int) -> Optional[TaskInfo]:
        """The task, or None when no task has this id."""
        with translate_errors(), self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM tasklease.get_task(%s)", (task_id,)).fetchone()
        if row is None:
            return None
        values = {k: row[k] for k in _TASK_FIELDS if k in row}
        values["status"] = str(values["status"])
        return TaskInfo(**values)

    def cancel(self, task_id: int) -> bool:
        """Cancel a queued or running task; False when it had finished (TaskNotFound if none)."""
        with translate_errors():
            row = self.conn.execute("SELECT tasklease.cancel_task(%s)", (task_id,)).fetchone()
        assert row is not None
        return bool(row[0])

    def stats(self) -> Stats:
        """Task counts per queue and status, the workers, and the number of stale tasks."""
        with translate_errors():
            row = self.conn.execute("SELECT count(*) FROM tasklease.stale_tasks").fetchone()
            return Stats(self._counts(), self._workers(), int(row[0]) if row else 0)

    def snapshot(self, recent: int = 20) -> Snapshot:
        """Counts, workers, the stale tasks and the recent reaper decisions (newest first,
        at most recent of them): what `tasklease status` shows."""
        with translate_errors():
            stale = [StaleTask(*r) for r in self.conn.execute(
                "SELECT task_id, action, reason, owner_id, attempts, requeue_count, queue "
                "FROM tasklease.stale_tasks ORDER BY task_id")]
            log = [ReaperEntry(*r) for r in self.conn.execute(
                "SELECT at, task_id, action, reason, owner_id, attempts, actor "
                "FROM tasklease.reaper_log ORDER BY id DESC LIMIT %s", (recent,))]
            queues = [QueueState(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]))
                      for r in self.conn.execute(
                "SELECT queue, state, max_running, queued, runnable, running "
                "FROM tasklease.queues ORDER BY queue")]
            return Snapshot(self._counts(), self._workers(), stale, log, queues)

    def _counts(self) -> list[QueueCount]:
        return [QueueCount(q, str(s), int(n)) for q, s, n in self.conn.execute(
            "SELECT queue, status::text, tasks FROM tasklease.task_status_counts "
            "ORDER BY queue, status")]

    def _workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(r[0], r[1], r[2], int(r[3]), float(r[4]), r[5], r[6])
                for r in self.conn.execute(
            "SELECT owner_id, state, alive, tasks_held, seconds_since_heartbeat, host, pid "
            "FROM tasklease.worker_status ORDER BY owner_id")]

"""The producer-side library: enqueue, look up, cancel, and queue statistics.

    with tasklease.Client(dsn) as client:
        task_id = client.enqueue({"to": "a@example.org"}, queue="mail")
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
    ) -> int:
        """Add one task; returns its id.  It runs from run_after, or delay_s seconds from
        now on the database's clock (never this machine's), or now."""
        with translate_errors():
            row = self.conn.execute(
                f"SELECT tasklease.enqueue(%s, %s, {_RUN_AFTER_SQL}, %s, %s)",
                (Jsonb(payload), queue, *_run_after(run_after, delay_s), priority, max_attempts),
            ).fetchone()
        assert row is not None
        return row[0]

    def enqueue_many(
        self,
        payloads: Iterable[Any],
        queue: str = "default",
        *,
        run_after: RunAfter = None,
        delay_s: Optional[float] = None,
        priority: int = 0,
        max_attempts: Optional[int] = None,
    ) -> list[int]:
        """Add one task per payload with one statement; returns the ids in order.  run_after
        and delay_s as for enqueue()."""
        values: Sequence[Jsonb] = [Jsonb(p) for p in payloads]
        if not values:
            return []
        with translate_errors():
            rows = self.conn.execute(
                f"SELECT * FROM tasklease.enqueue_many(%s::jsonb[], %s, {_RUN_AFTER_SQL}, "
                "%s, %s)",
                (list(values), queue, *_run_after(run_after, delay_s), priority, max_attempts),
            ).fetchall()
        return [r[0] for r in rows]

    def get(self, task_id: int) -> Optional[TaskInfo]:
        """The task, or None when no task has this id."""
        with translate_errors(), self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM tasklease.get_task(%s)", (task_id,)).fetchone()
        if row is None:
            return None
        values = {k: row[k] for k in _TASK_FIELDS}
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
            return Snapshot(self._counts(), self._workers(), stale, log)

    def _counts(self) -> list[QueueCount]:
        return [QueueCount(q, str(s), int(n)) for q, s, n in self.conn.execute(
            "SELECT queue, status::text, tasks FROM tasklease.task_status_counts "
            "ORDER BY queue, status")]

    def _workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(r[0], r[1], r[2], int(r[3]), float(r[4]), r[5], r[6])
                for r in self.conn.execute(
            "SELECT owner_id, state, alive, tasks_held, seconds_since_heartbeat, host, pid "
            "FROM tasklease.worker_status ORDER BY owner_id")]

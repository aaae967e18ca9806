"""What each client method sends and how its rows become the result: no I/O.

tasklease.Client and tasklease.AsyncClient run the same Call objects, one with psycopg's
Connection, one with its AsyncConnection, so a method exists once here and twice as a
two-line wrapper there.  A Call is a few statements (each its own autocommit transaction),
a function from their rows to the result, and whether it is safe to send again after the
connection was lost with no answer (retry_safe: reads; a write only when the database
makes a second one harmless).

Adding a method: write its Call here, with retry_safe=True only when a second send is
harmless (an enqueue where every payload has a de-duplication key: a resent one returns
the first one's task instead of adding a second), and a two-line wrapper in each client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, TypeVar, Union

from psycopg.types.json import Jsonb

from .records import (
    Enqueued,
    QueueCount,
    QueueState,
    ReaperEntry,
    Snapshot,
    StaleTask,
    Stats,
    TaskInfo,
    WorkerInfo,
)

T = TypeVar("T")
Rows = list[tuple]

# run_after: a datetime, or a timestamp text PostgreSQL parses; delay_s: seconds from the
# database's now().  At most one of the two; neither means now.
RunAfter = Union[dt.datetime, str, None]
_RUN_AFTER_SQL = "coalesce(%s::timestamptz, now() + make_interval(secs => coalesce(%s, 0)))"
TASK_FIELDS = tuple(TaskInfo.__dataclass_fields__)
#: A de-duplication window: a timedelta, or a number of seconds.
Window = Union[dt.timedelta, float, None]


@dataclass(frozen=True)
class Call(Generic[T]):
    """Statements (sql, params), and shape(rows of each statement) -> the result."""

    name: str
    statements: tuple[tuple[str, Any], ...]
    shape: Callable[[list[Rows]], T]
    retry_safe: bool


def _run_after(run_after: RunAfter, delay_s: Optional[float]) -> tuple[RunAfter, Optional[float]]:
    if run_after is not None and delay_s is not None:
        raise ValueError("give run_after or delay_s, not both")
    return run_after, None if delay_s is None else float(delay_s)


def _window(value: Window) -> Optional[dt.timedelta]:
    if value is None or isinstance(value, dt.timedelta):
        return value
    return dt.timedelta(seconds=value)


def _first(rows: list[Rows]) -> Any:
    return rows[0][0][0]


# ------------------------------------------------------------------- writes
def enqueue(payload: Any, queue: str = "default", *, run_after: RunAfter = None,
            delay_s: Optional[float] = None, priority: int = 0,
            max_attempts: Optional[int] = None, dedupe_key: Optional[str] = None,
            dedupe_for: Window = None) -> Call[int]:
    """Add one task; its id (with dedupe_key, the id of the task holding the key if one
    does).  retry_safe only with a key: sent twice without one, it adds two tasks."""
    return Call("enqueue", ((
        f"SELECT tasklease.enqueue(%s, %s, {_RUN_AFTER_SQL}, %s, %s, %s, %s)",
        (Jsonb(payload), queue, *_run_after(run_after, delay_s), priority, max_attempts,
         dedupe_key, _window(dedupe_for)),
    ),), _first, retry_safe=dedupe_key is not None)


def enqueue_tasks(payloads: Iterable[Any], queue: str = "default", *,
                  run_after: RunAfter = None, delay_s: Optional[float] = None,
                  priority: int = 0, max_attempts: Optional[int] = None,
                  dedupe_keys: Optional[Sequence[Optional[str]]] = None,
                  dedupe_for: Window = None, name: str = "enqueue_tasks",
                  ) -> Call[list[Enqueued]]:
    """Add one task per payload with one statement; per payload, its task's id and whether
    this call added it.  retry_safe when every payload has a key (a resent call then says
    created=False for the tasks the lost one added)."""
    values: Sequence[Jsonb] = [Jsonb(p) for p in payloads]
    when = _run_after(run_after, delay_s)
    if not values:
        return Call(name, (), lambda _rows: [], retry_safe=True)
    keys = None if dedupe_keys is None else list(dedupe_keys)
    return Call(name, ((
        "SELECT id, created FROM tasklease.enqueue_tasks(%s::jsonb[], %s, "
        f"{_RUN_AFTER_SQL}, %s, %s, %s::text[], %s)",
        (list(values), queue, *when, priority, max_attempts, keys, _window(dedupe_for)),
    ),), lambda rows: [Enqueued(r[0], r[1]) for r in rows[0]],
        retry_safe=keys is not None and len(keys) == len(values)
        and all(k is not None for k in keys))


def enqueue_many(payloads: Iterable[Any], queue: str = "default", *,
                 run_after: RunAfter = None, delay_s: Optional[float] = None,
                 priority: int = 0, max_attempts: Optional[int] = None,
                 dedupe_keys: Optional[Sequence[Optional[str]]] = None,
                 dedupe_for: Window = None) -> Call[list[int]]:
    """enqueue_tasks, the ids only."""
    call = enqueue_tasks(payloads, queue, run_after=run_after, delay_s=delay_s,
                         priority=priority, max_attempts=max_attempts,
                         dedupe_keys=dedupe_keys, dedupe_for=dedupe_for, name="enqueue_many")
    return Call(call.name, call.statements, lambda rows: [e.id for e in call.shape(rows)],
                call.retry_safe)


def cancel(task_id: int) -> Call[bool]:
    """Cancel a queued or running task; False when it had finished.  Not retry_safe: a
    second cancel answers False for a task the first one cancelled."""
    return Call("cancel", (("SELECT tasklease.cancel_task(%s)", (task_id,)),),
                lambda rows: bool(_first(rows)), retry_safe=False)


# ------------------------------------------------------------------- reads
def _task(rows: list[Rows]) -> Optional[TaskInfo]:
    if not rows[0]:
        return None
    values = dict(zip(TASK_FIELDS, rows[0][0]))
    values["status"] = str(values["status"])
    return TaskInfo(**values)


def get(task_id: int) -> Call[Optional[TaskInfo]]:
    return Call("get", ((f"SELECT {', '.join(TASK_FIELDS)} FROM tasklease.get_task(%s)",
                         (task_id,)),), _task, retry_safe=True)


_COUNTS = ("SELECT queue, status::text, tasks FROM tasklease.task_status_counts "
           "ORDER BY queue, status", None)
_WORKERS = ("SELECT owner_id, state, alive, tasks_held, seconds_since_heartbeat, host, pid "
            "FROM tasklease.worker_status ORDER BY owner_id", None)


def _counts(rows: Rows) -> list[QueueCount]:
    return [QueueCount(q, str(s), int(n)) for q, s, n in rows]


def _workers(rows: Rows) -> list[WorkerInfo]:
    return [WorkerInfo(r[0], r[1], r[2], int(r[3]), float(r[4]), r[5], r[6]) for r in rows]


def stats() -> Call[Stats]:
    """Task counts per queue and status, the workers, and the number of stale tasks."""
    return Call("stats", (_COUNTS, _WORKERS, ("SELECT count(*) FROM tasklease.stale_tasks", None)),
                lambda rows: Stats(_counts(rows[0]), _workers(rows[1]),
                                   int(rows[2][0][0]) if rows[2] else 0), retry_safe=True)


def snapshot(recent: int = 20) -> Call[Snapshot]:
    """Counts, workers, the stale tasks and the recent reaper decisions (newest first)."""
    return Call("snapshot", (
        _COUNTS, _WORKERS,
        ("SELECT task_id, action, reason, owner_id, attempts, requeue_count, queue "
         "FROM tasklease.stale_tasks ORDER BY task_id", None),
        ("SELECT at, task_id, action, reason, owner_id, attempts, actor "
         "FROM tasklease.reaper_log ORDER BY id DESC LIMIT %s", (recent,)),
        ("SELECT queue, state, max_running, queued, runnable, running "
         "FROM tasklease.queues ORDER BY queue", None),
    ), lambda rows: Snapshot(_counts(rows[0]), _workers(rows[1]),
                             [StaleTask(*r) for r in rows[2]],
                             [ReaperEntry(*r) for r in rows[3]],
                             [QueueState(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]))
                              for r in rows[4]]), retry_safe=True)

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
SQLSTATE are raised as tasklease.errors exceptions.  The SQL of every method and the
mapping of its rows live in calls.py, shared with tasklease.AsyncClient.

A lost connection (a restart, a terminated backend, a network cut) costs one call at most:
  - found before sending (the server closed the idle connection): the client reconnects
    and sends, transparently;
  - lost after sending, for a read (get, stats, snapshot): reconnected and sent once more;
  - lost after sending, for a write (enqueue, enqueue_many, cancel): ConnectionLost with
    may_have_committed=True, because the write may have committed before the answer was
    lost; the next call reconnects.
Reconnecting retries with backoff (at most RECONNECT_MAX_S apart) for connect_timeout_s,
then raises ConnectionLost with may_have_committed=False: nothing was sent.  The very first
connection is tried once: a wrong DSN fails at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any, Optional, TypeVar

import psycopg

from . import calls
from .calls import RunAfter, Window
from .db import connect, idle_connection_lost, is_connection_error, translate_errors
from .errors import ConnectionLost
from .pooling import Pooling
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
from .worker.timing import RECONNECT_MAX_S, backoff_delays

__all__ = ["CONNECT_TIMEOUT_S", "Client", "ConnectionLost", "Enqueued", "QueueCount",
           "QueueState", "ReaperEntry", "RunAfter", "Snapshot", "StaleTask", "Stats", "TaskInfo",
           "WorkerInfo", "Window"]

T = TypeVar("T")
CONNECT_TIMEOUT_S = 15.0


def lost_after_sending(call: calls.Call, exc: BaseException) -> ConnectionLost:
    return ConnectionLost(
        f"connection lost during {call.name} before its answer came back: it may have "
        f"committed (check before sending it again); the next call reconnects: "
        f"{' '.join(str(exc).split())}", may_have_committed=True, call=call.name)


def not_reconnected(call: calls.Call, seconds: float, exc: BaseException) -> ConnectionLost:
    return ConnectionLost(
        f"{call.name} was not sent: no connection within {seconds:g} s: "
        f"{' '.join(str(exc).split())}", may_have_committed=False, call=call.name)


class ClientBase:
    """The options of Client and AsyncClient."""

    def __init__(self, dsn: Optional[str] = None, app: str = "client", *,
                 pooler: Optional[str] = None,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.dsn = dsn
        self.app = app
        self.pooling = Pooling.resolve(pooler)
        self.connect_timeout_s = connect_timeout_s
        self._conn: Any = None
        self._ever_connected = False


class Client(ClientBase):
    """A producer's connection to tasklease (application_name tasklease:<app>).  pooler:
    "transaction" behind a transaction-mode pooler (default: TASKLEASE_POOLER)."""

    _conn: Optional[psycopg.Connection]

    # ------------------------------------------------------------ connection
    def open(self) -> Client:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.dsn, self.app, pooling=self.pooling)
            self._ever_connected = True
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

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _connection(self, call: calls.Call) -> psycopg.Connection:
        """The open connection, or a new one (with backoff, once there was one before)."""
        if self._conn is not None and not idle_connection_lost(self._conn):
            return self._conn
        self._drop()
        if not self._ever_connected:
            return self.conn
        deadline = time.monotonic() + self.connect_timeout_s
        delays = backoff_delays(cap=RECONNECT_MAX_S)
        while True:
            try:
                return self.conn
            except psycopg.OperationalError as exc:
                delay = next(delays)
                if time.monotonic() + delay > deadline:
                    raise not_reconnected(call, self.connect_timeout_s, exc) from exc
                time.sleep(delay)

    def _run(self, call: calls.Call[T]) -> T:
        """Send call's statements and shape their rows (the lost-connection rules above)."""
        retried = False
        while True:
            conn = self._connection(call)
            try:
                with translate_errors():
                    rows = [conn.execute(sql, params).fetchall()
                            for sql, params in call.statements]
                return call.shape(rows)
            except psycopg.Error as exc:
                if not is_connection_error(exc, conn):
                    raise
                self._drop()
                if call.retry_safe and not retried:
                    retried = True
                    continue
                raise lost_after_sending(call, exc) from exc

    # ------------------------------------------------------------------- API
    def enqueue(self, payload: Any, queue: str = "default", *, run_after: RunAfter = None,
                delay_s: Optional[float] = None, priority: int = 0,
                max_attempts: Optional[int] = None, dedupe_key: Optional[str] = None,
                dedupe_for: Window = None) -> int:
        """Add one task; returns its id.  It runs from run_after, or delay_s seconds from
        now on the database's clock (never this machine's), or now.  With dedupe_key: the
        id of the queued or running task of this queue holding that key (or one finished
        within dedupe_for), if any, instead of adding another; enqueue_unique also says
        which it was."""
        return self._run(calls.enqueue(payload, queue, run_after=run_after, delay_s=delay_s,
                                       priority=priority, max_attempts=max_attempts,
                                       dedupe_key=dedupe_key, dedupe_for=dedupe_for))

    def enqueue_unique(self, payload: Any, dedupe_key: str, queue: str = "default", *,
                       dedupe_for: Window = None, run_after: RunAfter = None,
                       delay_s: Optional[float] = None, priority: int = 0,
                       max_attempts: Optional[int] = None) -> Enqueued:
        """Add one task unless a task of this queue holds dedupe_key: queued or running, or
        finished less than dedupe_for ago.  Enqueued(id, created) says which happened."""
        (result,) = self.enqueue_tasks([payload], queue, run_after=run_after, delay_s=delay_s,
                                       priority=priority, max_attempts=max_attempts,
                                       dedupe_keys=[dedupe_key], dedupe_for=dedupe_for)
        return result

    def enqueue_many(self, payloads: Iterable[Any], queue: str = "default", *,
                     run_after: RunAfter = None, delay_s: Optional[float] = None,
                     priority: int = 0, max_attempts: Optional[int] = None,
                     dedupe_keys: Optional[Sequence[Optional[str]]] = None,
                     dedupe_for: Window = None) -> list[int]:
        """Add one task per payload with one statement; returns the ids in order.  run_after
        and delay_s as for enqueue(); dedupe_keys: one key (or None) per payload."""
        return self._run(calls.enqueue_many(payloads, queue, run_after=run_after,
                                            delay_s=delay_s, priority=priority,
                                            max_attempts=max_attempts,
                                            dedupe_keys=dedupe_keys, dedupe_for=dedupe_for))

    def enqueue_tasks(self, payloads: Iterable[Any], queue: str = "default", *,
                      run_after: RunAfter = None, delay_s: Optional[float] = None,
                      priority: int = 0, max_attempts: Optional[int] = None,
                      dedupe_keys: Optional[Sequence[Optional[str]]] = None,
                      dedupe_for: Window = None) -> list[Enqueued]:
        """enqueue_many that also says, per payload, whether its task is new."""
        return self._run(calls.enqueue_tasks(payloads, queue, run_after=run_after,
                                             delay_s=delay_s, priority=priority,
                                             max_attempts=max_attempts,
                                             dedupe_keys=dedupe_keys, dedupe_for=dedupe_for))

    def get(self, task_id: int) -> Optional[TaskInfo]:
        """The task, or None when no task has this id."""
        return self._run(calls.get(task_id))

    def cancel(self, task_id: int) -> bool:
        """Cancel a queued or running task; False when it had finished (TaskNotFound if none)."""
        return self._run(calls.cancel(task_id))

    def stats(self) -> Stats:
        """Task counts per queue and status, the workers, and the number of stale tasks."""
        return self._run(calls.stats())

    def snapshot(self, recent: int = 20) -> Snapshot:
        """Counts, workers, the stale tasks and the recent reaper decisions (newest first,
        at most recent of them): what `tasklease status` shows."""
        return self._run(calls.snapshot(recent))

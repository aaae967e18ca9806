"""AsyncClient: tasklease.Client for asyncio, on psycopg's AsyncConnection.

    async with tasklease.AsyncClient(dsn) as client:
        task_id = await client.enqueue({"to": "a@example.org"}, queue="mail")
        print((await client.get(task_id)).status)

The same calls (tasklease/calls.py: the SQL and the mapping of rows) and the same rules
for a lost connection as tasklease.Client: reconnect on the next call with backoff, a read
sent again, a write that may have committed raised as ConnectionLost(may_have_committed=
True).  No I/O in the constructor.  One call at a time per client (a psycopg connection
runs one statement at a time; concurrent calls wait for each other).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any, Optional, TypeVar

import psycopg

from .. import calls
from ..calls import RunAfter, Window
from ..client import ClientBase, lost_after_sending, not_reconnected
from ..db import aconnect, idle_connection_lost, is_connection_error, translate_errors
from ..records import Enqueued, Snapshot, Stats, TaskInfo
from ..worker.timing import RECONNECT_MAX_S, backoff_delays

T = TypeVar("T")


class AsyncClient(ClientBase):
    """A producer's asyncio connection to tasklease (application_name tasklease:<app>)."""

    _conn: Optional[psycopg.AsyncConnection]
    _lock: Optional[asyncio.Lock] = None  # made on the loop, by the first call

    # ------------------------------------------------------------ connection
    async def open(self) -> AsyncClient:
        if self._conn is None or self._conn.closed:
            self._conn = await aconnect(self.dsn, self.app, pooling=self.pooling)
            self._ever_connected = True
        return self

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def __aenter__(self) -> AsyncClient:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def conn(self) -> Optional[psycopg.AsyncConnection]:
        """The open connection (None before the first call)."""
        return self._conn

    async def _connection(self, call: calls.Call) -> psycopg.AsyncConnection:
        if self._conn is not None and not idle_connection_lost(self._conn):
            return self._conn
        await self.close()
        if not self._ever_connected:
            await self.open()
            assert self._conn is not None
            return self._conn
        deadline = time.monotonic() + self.connect_timeout_s
        delays = backoff_delays(cap=RECONNECT_MAX_S)
        while True:
            try:
                await self.open()
                assert self._conn is not None
                return self._conn
            except psycopg.OperationalError as exc:
                delay = next(delays)
                if time.monotonic() + delay > deadline:
                    raise not_reconnected(call, self.connect_timeout_s, exc) from exc
                await asyncio.sleep(delay)

    async def _run(self, call: calls.Call[T]) -> T:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            retried = False
            while True:
                conn = await self._connection(call)
                try:
                    with translate_errors():
                        rows = [await (await conn.execute(sql, params)).fetchall()
                                for sql, params in call.statements]
                    return call.shape(rows)
                except psycopg.Error as exc:
                    if not is_connection_error(exc, conn):
                        raise
                    await self.close()
                    if call.retry_safe and not retried:
                        retried = True
                        continue
                    raise lost_after_sending(call, exc) from exc

    # ------------------------------------------------------------------- API
    async def enqueue(self, payload: Any, queue: str = "default", *, run_after: RunAfter = None,
                delay_s: Optional[float] = None, priority: int = 0,
                max_attempts: Optional[int] = None, dedupe_key: Optional[str] = None,
                dedupe_for: Window = None) -> int:
        """Add one task; returns its id.  It runs from run_after, or delay_s seconds from
        now on the database's clock (never this machine's), or now.  With dedupe_key: the
        id of the queued or running task of this queue holding that key (or one finished
        within dedupe_for), if any, instead of adding another; enqueue_unique also says
        which it was."""
        return await self._run(calls.enqueue(payload, queue, run_after=run_after, delay_s=delay_s,
                                       priority=priority, max_attempts=max_attempts,
                                       dedupe_key=dedupe_key, dedupe_for=dedupe_for))

    async def enqueue_unique(self, payload: Any, dedupe_key: str, queue: str = "default", *,
                       dedupe_for: Window = None, run_after: RunAfter = None,
                       delay_s: Optional[float] = None, priority: int = 0,
                       max_attempts: Optional[int] = None) -> Enqueued:
        """Add one task unless a task of this queue holds dedupe_key: queued or running, or
        finished less than dedupe_for ago.  Enqueued(id, created) says which happened."""
        (result,) = await self.enqueue_tasks([payload], queue, run_after=run_after, delay_s=delay_s,
                                       priority=priority, max_attempts=max_attempts,
                                       dedupe_keys=[dedupe_key], dedupe_for=dedupe_for)
        return result

    async def enqueue_many(self, payloads: Iterable[Any], queue: str = "default", *,
                     run_after: RunAfter = None, delay_s: Optional[float] = None,
                     priority: int = 0, max_attempts: Optional[int] = None,
                     dedupe_keys: Optional[Sequence[Optional[str]]] = None,
                     dedupe_for: Window = None) -> list[int]:
        """Add one task per payload with one statement; returns the ids in order.  run_after
        and delay_s as for enqueue(); dedupe_keys: one key (or None) per payload."""
        return await self._run(calls.enqueue_many(payloads, queue, run_after=run_after,
                                            delay_s=delay_s, priority=priority,
                                            max_attempts=max_attempts,
                                            dedupe_keys=dedupe_keys, dedupe_for=dedupe_for))

    async def enqueue_tasks(self, payloads: Iterable[Any], queue: str = "default", *,
                      run_after: RunAfter = None, delay_s: Optional[float] = None,
                      priority: int = 0, max_attempts: Optional[int] = None,
                      dedupe_keys: Optional[Sequence[Optional[str]]] = None,
                      dedupe_for: Window = None) -> list[Enqueued]:
        """enqueue_many that also says, per payload, whether its task is new."""
        return await self._run(calls.enqueue_tasks(payloads, queue, run_after=run_after,
                                             delay_s=delay_s, priority=priority,
                                             max_attempts=max_attempts,
                                             dedupe_keys=dedupe_keys, dedupe_for=dedupe_for))

    async def get(self, task_id: int) -> Optional[TaskInfo]:
        """The task, or None when no task has this id."""
        return await self._run(calls.get(task_id))

    async def cancel(self, task_id: int) -> bool:
        """Cancel a queued or running task; False when it had finished."""
        return await self._run(calls.cancel(task_id))

    async def stats(self) -> Stats:
        """Task counts per queue and status, the workers, and the number of stale tasks."""
        return await self._run(calls.stats())

    async def snapshot(self, recent: int = 20) -> Snapshot:
        """What `tasklease status` shows (as Client.snapshot)."""
        return await self._run(calls.snapshot(recent))

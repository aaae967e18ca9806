"""AsyncLink: one autocommit AsyncConnection of the event loop, re-opened with backoff when
it breaks.  The asyncio twin of tasklease.worker.link.Link: the same bounds (pooling.py),
the same three kinds of error (connection: re-opened and retried until give_up();
transient: retried at most TRANSIENT_TRIES times; anything else: raised), the same log
lines.  Used by one coroutine at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Optional, TypeVar

import psycopg

from ..db import aconnect, is_connection_error, is_transient, translate_errors
from ..metrics import Metrics
from ..pooling import Pooling
from ..worker.events import kv, log, one_line
from ..worker.link import TRANSIENT_TRIES
from ..worker.timing import RECONNECT_MAX_S, ConnectionBounds, backoff_delays

T = TypeVar("T")


async def fetchall(conn: psycopg.AsyncConnection, sql: str, params: Any = None) -> list[tuple]:
    return await (await conn.execute(sql, params)).fetchall()


async def fetchone(conn: psycopg.AsyncConnection, sql: str, params: Any = None) -> Any:
    return await (await conn.execute(sql, params)).fetchone()


class AsyncLink:
    def __init__(self, dsn: str, app: str, role: str, metrics: Metrics,
                 bounds: ConnectionBounds, pooling: Optional[Pooling] = None) -> None:
        self.dsn, self.app, self.role, self.metrics, self.bounds = dsn, app, role, metrics, bounds
        self.pooling = pooling or Pooling.resolve()
        self.conn: Optional[psycopg.AsyncConnection] = None
        self.reconnects = 0
        self._ever_connected = False

    async def _ensure(self) -> psycopg.AsyncConnection:
        if self.conn is None or self.conn.closed:
            self.conn = await aconnect(self.dsn, self.app, pooling=self.pooling,
                                       statement_timeout_ms=self.bounds.statement_timeout_ms,
                                       **self.bounds.libpq_params())
            if self._ever_connected:
                self.reconnects += 1
                self.metrics.inc("reconnects")
                log.info(kv("reconnected", worker=self.app, connection=self.role))
            self._ever_connected = True
        return self.conn

    async def rename(self, app: str) -> None:
        """Take the worker's name (application_name changed on the open connection)."""
        self.app = app
        if self.conn is not None and not self.conn.closed:
            await self.once(lambda c: c.execute(
                "SELECT set_config('application_name', %s, false)", (f"tasklease:{app}"[:63],)))

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self.conn.close()
            self.conn = None

    def is_connection_error(self, exc: BaseException) -> bool:
        return is_connection_error(exc, self.conn)

    async def once(self, fn: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """await fn(conn) on a live connection; a connection error drops it and propagates."""
        conn = None
        try:
            conn = await self._ensure()
            with translate_errors():
                return await fn(conn)
        except psycopg.Error as exc:
            if is_connection_error(exc, conn):
                await self.close()
            raise

    async def retry(self, fn: Callable[[psycopg.AsyncConnection], Awaitable[T]],
                    give_up: Callable[[], bool]) -> T:
        """await fn(conn), retried after connection errors (backoff, jitter) until give_up(),
        and after transient errors at most TRANSIENT_TRIES times in all."""
        delays = backoff_delays(cap=RECONNECT_MAX_S)
        transient = 0
        while True:
            try:
                return await self.once(fn)
            except psycopg.Error as exc:
                if self.is_connection_error(exc):
                    if give_up():
                        raise
                    event = "connection_lost"
                elif is_transient(exc) and transient + 1 < TRANSIENT_TRIES:
                    transient += 1
                    event = "statement_retry"
                else:
                    raise
                delay = next(delays)
                log.warning(kv(event, worker=self.app, connection=self.role,
                               retry_in_s=f"{delay:.2f}", error=one_line(exc)))
                await asyncio.sleep(delay)

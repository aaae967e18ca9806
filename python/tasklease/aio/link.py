"""AsyncLink: one autocommit AsyncConnection of the event loop, re-opened with backoff when
it breaks.  The asyncio twin of tasklease.worker.link.Link: the same bounds (pooling.py),
the same three kinds of error (connection: re-opened and retried until give_up();
transient: retried at most TRANSIENT_TRIES times; anything else: raised), the same log
lines, shared as code (LinkBase, Retries).  Used by one coroutine at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Optional, TypeVar

import psycopg

from ..db import aconnect, is_connection_error, translate_errors
from ..worker.link import RENAME_SQL, LinkBase, Retries

T = TypeVar("T")


async def fetchall(conn: psycopg.AsyncConnection, sql: str, params: Any = None) -> list[tuple]:
    return await (await conn.execute(sql, params)).fetchall()


async def fetchone(conn: psycopg.AsyncConnection, sql: str, params: Any = None) -> Any:
    return await (await conn.execute(sql, params)).fetchone()


class AsyncLink(LinkBase):
    conn: Optional[psycopg.AsyncConnection]

    async def _ensure(self) -> psycopg.AsyncConnection:
        if self.conn is None or self.conn.closed:
            self._opened(await aconnect(self.dsn, self.app, pooling=self.pooling,
                                        statement_timeout_ms=self.bounds.statement_timeout_ms,
                                        **self.bounds.libpq_params()))
        return self.conn

    async def rename(self, app: str) -> None:
        """Take the worker's name (application_name changed on the open connection)."""
        self.app = app
        if self.conn is not None and not self.conn.closed:
            await self.once(lambda c: c.execute(RENAME_SQL, (f"tasklease:{app}"[:63],)))

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self.conn.close()
            self.conn = None

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
        """await fn(conn), retried by the rule of tasklease.worker.link.Retries."""
        retries = Retries(self, give_up)
        while True:
            try:
                return await self.once(fn)
            except psycopg.Error as exc:
                delay = retries.delay(exc)
                if delay is None:
                    raise
                await asyncio.sleep(delay)

"""AsyncListener: LISTEN tasklease on its own AsyncConnection and wake the claim loop when a
task of this worker's queue is enqueued or given back; the asyncio twin of
tasklease.worker.listener.  Polling every poll_interval_s remains the fallback.

check() runs once at start, before the worker takes a name: a LISTEN session that does not
receive a NOTIFY sent from another connection within pooling.PROBE_S (a transaction-mode
pooler in between) is PoolerMisconfigured, not a silent fall back to polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Optional

import psycopg

from ..db import aconnect
from ..pooling import (
    NOTIFY_SQL,
    PROBE_CHANNEL,
    PROBE_S,
    Pooling,
    listen_unusable,
    listen_where,
)
from ..worker.events import kv, log, one_line
from ..worker.listener import NOTIFY_WAIT_S
from ..worker.timing import backoff_delays
from .link import AsyncLink

Notify = Callable[[str, str], Awaitable[None]]


async def probe_listen(conn: psycopg.AsyncConnection, dsn: str, app: str,
                       notify: Optional[Notify] = None) -> bool:
    """pooling.probe_listen for an AsyncConnection."""
    token = uuid.uuid4().hex
    await conn.execute(f"LISTEN {PROBE_CHANNEL}")
    try:
        await (notify or _notifier(dsn, app))(PROBE_CHANNEL, token)
        deadline = time.monotonic() + PROBE_S
        while time.monotonic() < deadline:
            async for note in conn.notifies(timeout=max(deadline - time.monotonic(), 0.01)):
                if note.channel == PROBE_CHANNEL and note.payload == token:
                    return True
        return False
    finally:
        await conn.execute(f"UNLISTEN {PROBE_CHANNEL}")


def _notifier(dsn: str, app: str) -> Notify:
    async def notify(channel: str, payload: str) -> None:
        other = await aconnect(dsn, app, pooling=Pooling("transaction"))
        try:
            await other.execute(NOTIFY_SQL, (channel, payload))
        finally:
            await other.close()

    return notify


async def check_listen(dsn: str, app: str, pooling: Pooling, notify: Optional[Notify] = None,
                       **kwargs: object) -> None:
    """PoolerMisconfigured unless a LISTEN session on dsn receives notifications."""
    conn = await aconnect(dsn, app, pooling=pooling.for_listen(), **kwargs)
    try:
        if not await probe_listen(conn, dsn, app, notify):
            raise listen_unusable(listen_where(pooling))
    finally:
        await conn.close()


class AsyncListener:
    def __init__(self, link: AsyncLink, owner: str, queue: Optional[str],
                 wake: Callable[[], None]) -> None:
        self._link, self._owner, self._queue, self._wake = link, owner, queue, wake
        self._stop = asyncio.Event()
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._link.close()

    async def _run(self) -> None:
        delays = backoff_delays()
        while not self._stop.is_set():
            try:
                conn = await self._link.once(lambda c: _listen(c))
                delays = backoff_delays()
                self._wake()  # notifications may have been missed while away
                while not self._stop.is_set():
                    async for note in conn.notifies(timeout=NOTIFY_WAIT_S):
                        if self._queue is None or note.payload == self._queue:
                            self._wake()
            except psycopg.Error as exc:
                await self._link.close()
                log.warning(kv("listen_failed", worker=self._owner, error=one_line(exc)))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next(delays))


async def _listen(conn: psycopg.AsyncConnection) -> psycopg.AsyncConnection:
    await conn.execute("LISTEN tasklease")
    return conn

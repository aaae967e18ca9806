"""AsyncClaimer: the claims of an AsyncWorker on its main connection, the rules and SQL of
tasklease.worker.claimer (one claim_tasks call for every idle slot, usually sent with the
last outcomes by AsyncCompleter.exchange; after a reconnect, the leases this owner holds
but does not track are adopted and run again)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Optional

from ..worker.claimer import CLAIM_SQL, OWNED_SQL
from ..worker.task import Task
from .link import AsyncLink, fetchall
from .task import new_task


class AsyncClaimer:
    def __init__(self, link: AsyncLink, owner: str, queue: Optional[str], lease_s: int,
                 give_up: Callable[[], bool], loop: asyncio.AbstractEventLoop) -> None:
        self._link, self._owner, self._queue, self._lease_s = link, owner, queue, lease_s
        self._give_up, self._loop = give_up, loop
        self._seen_reconnects = link.reconnects

    def statement(self, n: int) -> tuple[str, tuple]:
        """The claim of up to n tasks, as (sql, params)."""
        return CLAIM_SQL, (self._owner, n, self._queue, self._lease_s)

    def tasks(self, rows: list, sent: float) -> list[Task]:
        """The claimed rows as Tasks whose local lease expiry counts from sent, the
        time.monotonic() at which the claim was sent."""
        return [new_task(r, sent + self._lease_s, self._loop) for r in rows]

    def reconnected(self) -> bool:
        """Whether the connection was re-opened since the last call."""
        seen, self._seen_reconnects = self._seen_reconnects, self._link.reconnects
        return seen != self._seen_reconnects

    async def adopt(self, known: set[int]) -> list[Task]:
        """The leases this owner holds that are not in known (claimed, then lost with the
        connection before the reply came)."""
        sent = time.monotonic()
        rows = await self._link.retry(lambda c: fetchall(c, OWNED_SQL, (self._owner,)),
                                      self._give_up)
        return [new_task(r, sent + max(r[5] or 0.0, 0.0), self._loop)
                for r in rows if r[0] not in known]

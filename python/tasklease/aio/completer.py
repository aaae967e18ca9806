"""AsyncCompleter: stores the outcomes of an AsyncWorker on the event loop, on its own
AsyncConnection: the rules of tasklease.worker.completer (same SQL; the same log lines and
metrics, from CompleterBase), without a thread in the way, so a batch of outcomes is stored
as soon as the loop has them and the claim loop is woken without a thread hand-off.

Successes go in one complete_tasks call per flush, failures one fail_task each.  Outcomes
are isolated from each other: when the batch is refused for anything but a lost
connection, each success is stored alone, and one the database refuses becomes a
fail_task of its task ("result is not storable as jsonb: ..."); if even that fail_task is
refused, the outcome is logged and dropped, and the lease is left to run out.  A lost
connection is retried until the shutdown gives up; a completion that may have committed
before the connection broke is looked up with completed_by.  test_worker_services runs the
same cases against both completers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Optional

from ..metrics import Metrics
from ..worker.completer import COMPLETE_SQL, COMPLETED_BY_SQL, FAIL_SQL, CompleterBase
from ..worker.events import kv, log, one_line
from ..worker.inflight import InFlight
from ..worker.outcomes import Outcome, refused, storable_text
from .link import AsyncLink, fetchall, fetchone


class AsyncCompleter(CompleterBase):
    def __init__(self, link: AsyncLink, owner: str, inflight: InFlight, metrics: Metrics,
                 give_up: Callable[[], bool], stored: Callable[[], None]) -> None:
        super().__init__(link, owner, inflight, metrics, give_up, stored)
        self._pending: list[Outcome] = []
        self._ready: Optional[asyncio.Event] = None
        self._stopping = False
        self._task: Optional[asyncio.Task] = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._ready = asyncio.Event()
        self._task = asyncio.ensure_future(self._loop())

    def put(self, outcome: Outcome) -> None:
        """Called on the loop by the runner: store this outcome soon."""
        self._pending.append(outcome)
        if self._ready is not None:
            self._ready.set()

    async def stop(self) -> None:
        """Store what is pending, then end (bounded by give_up)."""
        self._stopping = True
        if self._ready is not None:
            self._ready.set()
        if self._task is not None:
            await self._task
        await self._link.close()

    async def _loop(self) -> None:
        assert self._ready is not None
        while True:
            await self._ready.wait()
            self._ready.clear()
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - the completer outlives a bug
                log.error(kv("completer_error", worker=self._owner, error=one_line(exc)))
            if self._stopping and not self._pending:
                return

    # ------------------------------------------------------------------ flush
    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self._store(batch)
        except Exception as exc:  # noqa: BLE001 - only a connection given up on gets here
            log.error(kv("outcomes_unstored", worker=self._owner, tasks=len(batch),
                         error=one_line(exc)))
        finally:
            self._inflight.forget(o.task for o in batch)
            self._stored()

    async def _store(self, batch: list[Outcome]) -> None:
        live = self._live(batch)
        failures = [o for o in live if not o.ok]
        failures += await self._complete([o for o in live if o.ok])
        for o in failures:
            await self._fail(o)

    # ------------------------------------------------------------ completions
    async def _complete(self, done: list[Outcome]) -> list[Outcome]:
        """Store the successes; returns those the database refused, as failures."""
        if not done:
            return []
        try:
            accepted = await self._complete_batch(done)
        except Exception as exc:
            if self._link.is_connection_error(exc):
                raise
            if len(done) == 1:
                return [refused(done[0], one_line(exc, limit=1000))]
            log.warning(kv("batch_refused", worker=self._owner, tasks=len(done),
                           error=one_line(exc)))
            out = []  # one by one: only the poisoned ones fail
            for o in done:
                out += await self._complete([o])
            return out
        self._report(done, accepted)
        return []

    async def _complete_batch(self, done: list[Outcome]) -> set[int]:
        ids = [o.task.id for o in done]
        tokens = [o.task.lease_token for o in done]
        results = [o.result for o in done]
        before = self._link.reconnects
        rows = await self._link.retry(lambda c: fetchall(
            c, COMPLETE_SQL, (self._owner, ids, tokens, results)), self._give_up)
        accepted = {r[0] for r in rows}
        missing = [o for o in done if o.task.id not in accepted]
        if missing and self._link.reconnects != before:
            # A first attempt may have committed before the connection broke.
            rows = await self._link.retry(lambda c: fetchall(
                c, COMPLETED_BY_SQL, (self._owner, [o.task.id for o in missing],
                                      [o.task.lease_token for o in missing])), self._give_up)
            accepted |= {r[0] for r in rows}
        return accepted

    # --------------------------------------------------------------- failures
    async def _fail(self, o: Outcome) -> None:
        error = storable_text(o.error)
        try:
            row = await self._link.retry(lambda c: fetchone(
                c, FAIL_SQL, (o.task.id, self._owner, o.task.lease_token, error)),
                self._give_up)
        except Exception as exc:
            if self._link.is_connection_error(exc):
                raise
            self._fail_dropped(o, exc)
            return
        self._failed(o, error, row[0])

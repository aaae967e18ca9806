"""AsyncCompleter: stores the outcomes of an AsyncWorker on the event loop, on its own
AsyncConnection: the rules of tasklease.worker.completer (same SQL, same log lines, same
metrics), without a thread in the way, so a batch of outcomes is stored as soon as the loop
has them and the claim loop is woken without a thread hand-off.

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
import logging
from collections.abc import Callable
from typing import Optional

from ..metrics import Metrics
from ..worker.completer import COMPLETE_SQL, COMPLETED_BY_SQL, FAIL_SQL
from ..worker.events import kv, log, one_line
from ..worker.inflight import InFlight
from ..worker.outcomes import Outcome, refused, storable_text
from .link import AsyncLink, fetchall, fetchone


class AsyncCompleter:
    def __init__(self, link: AsyncLink, owner: str, inflight: InFlight, metrics: Metrics,
                 give_up: Callable[[], bool], stored: Callable[[], None]) -> None:
        self._link = link
        self._owner = owner
        self._inflight = inflight
        self._metrics = metrics
        self._give_up = give_up
        self._stored = stored  # called after each flush (wakes the claim loop)
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
        live = []
        for o in batch:
            if o.task.gone:  # a renewal found the lease gone: the database would refuse it
                log.info(kv("outcome_dropped", worker=self._owner, task=o.task.id,
                            token=o.task.lease_token, reason="lease_lost"))
            else:
                live.append(o)
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

    def _report(self, done: list[Outcome], accepted: set[int]) -> None:
        verbose = log.isEnabledFor(logging.INFO)  # a line per task: not formatted for nothing
        for o in done:
            if o.task.id in accepted:
                self._metrics.inc("completed")
                if verbose:
                    log.info(kv("completed", worker=self._owner, task=o.task.id,
                                token=o.task.lease_token))
            else:
                self._inflight.lost(o.task, "complete_refused")

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
            self._metrics.inc("dropped_outcomes")
            log.error(kv("outcome_dropped", worker=self._owner, task=o.task.id,
                         token=o.task.lease_token, reason="fail_refused", error=one_line(exc)))
            return
        status = row[0]
        if status is None:
            self._inflight.lost(o.task, "fail_refused")
            return
        self._metrics.inc("failed")
        log.warning(kv("failed", worker=self._owner, task=o.task.id, token=o.task.lease_token,
                       attempt=o.task.attempts, status=status,
                       error=error.splitlines()[0] if error else ""))

"""AsyncCompleter: stores the outcomes of an AsyncWorker on the event loop, on the worker's
main AsyncConnection, by the rules of tasklease.worker.completer (same SQL; the same log
lines and metrics, from CompleterBase): the outcomes pending when the claim loop next runs
and the claim for the handler slots free by then go in one statement (EXCHANGE_SQL: one
round trip, one commit), so a finished task and the next one cost one round trip, not
two; and the claim loop is woken by put(), without a thread hand-off.

Successes go in one complete_tasks call per exchange, failures one fail_task each.
Outcomes are isolated from each other: when the transaction is refused for anything but a
lost connection, the claim is sent alone and each success is stored alone, and one the
database refuses becomes a fail_task of its task ("result is not storable as jsonb:
..."); if even that fail_task is refused, the outcome is logged and dropped, and the lease
is left to run out.  A lost connection is retried until the shutdown gives up; a
completion that may have committed before the connection broke is looked up with
completed_by.  test_worker_services runs the same cases against both completers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import psycopg

from ..metrics import Metrics
from ..worker.completer import (
    COMPLETE_SQL,
    COMPLETED_BY_SQL,
    EXCHANGE_SQL,
    FAIL_SQL,
    Claim,
    CompleterBase,
)
from ..worker.events import kv, log, one_line
from ..worker.inflight import InFlight
from ..worker.outcomes import Outcome, refused, storable_text
from .link import AsyncLink, fetchall, fetchone


class AsyncCompleter(CompleterBase):
    def __init__(self, link: AsyncLink, owner: str, inflight: InFlight, metrics: Metrics,
                 give_up: Callable[[], bool], stored: Callable[[], None]) -> None:
        super().__init__(link, owner, inflight, metrics, give_up, stored)
        self._pending: list[Outcome] = []

    # ------------------------------------------------------------ on the loop
    def put(self, outcome: Outcome) -> None:
        """Called by the runner: store this outcome soon (wakes the claim loop)."""
        self._pending.append(outcome)
        self._stored()

    def pending(self) -> bool:
        return bool(self._pending)

    async def flush(self) -> None:
        """Store every pending outcome (no claim)."""
        await self.exchange(None)

    async def exchange(self, claim: Optional[Claim]) -> list[tuple]:
        """Store the pending outcomes and run claim (if any) in the same transaction; the
        claimed rows.  Raises only for a lost connection given up on (claim not sent)."""
        batch, self._pending = self._pending, []
        if not batch and claim is None:
            return []
        try:
            return await self._store(batch, claim)
        except Exception as exc:  # noqa: BLE001 - only a connection given up on gets here
            if batch:
                log.error(kv("outcomes_unstored", worker=self._owner, tasks=len(batch),
                             error=one_line(exc)))
            if claim is not None:
                raise
            return []
        finally:
            self._inflight.forget(o.task for o in batch)

    async def _store(self, batch: list[Outcome], claim: Optional[Claim]) -> list[tuple]:
        live = self._live(batch)
        done = [o for o in live if o.ok]
        failures = [o for o in live if not o.ok]
        try:
            accepted, rows = await self._together(done, claim)
            self._report(done, accepted)
        except Exception as exc:
            if self._link.is_connection_error(exc) or not done:
                raise
            # Something in the batch poisoned the transaction: the claim alone, then
            # the completions one by one (only the poisoned ones fail).
            rows = await self._claim_alone(claim)
            failures += await self._complete(done)
        for o in failures:
            await self._fail(o)
        return rows

    # ------------------------------------------------------------ completions
    async def _together(self, done: list[Outcome],
                        claim: Optional[Claim]) -> tuple[set[int], list]:
        """complete_tasks(done) and the claim in one statement."""
        ids = [o.task.id for o in done]
        tokens = [o.task.lease_token for o in done]
        results = [o.result for o in done]

        async def both(c: psycopg.AsyncConnection) -> tuple[set[int], list]:
            if not done:  # a claim alone: one statement, its own transaction
                assert claim is not None
                return set(), await fetchall(c, *claim)
            if claim is None:
                return {r[0] for r in await fetchall(
                    c, COMPLETE_SQL, (self._owner, ids, tokens, results))}, []
            rows = await fetchall(c, EXCHANGE_SQL, (self._owner, ids, tokens, results,
                                                    *claim[1]))
            return {r[1] for r in rows if r[0]}, [r[1:] for r in rows if not r[0]]

        before = self._link.reconnects
        accepted, rows = await self._link.retry(both, self._give_up)
        missing = [o for o in done if o.task.id not in accepted]
        if missing and self._link.reconnects != before:
            # A first attempt may have committed before the connection broke.
            accepted |= await self._completed_by(missing)
        return accepted, rows

    async def _claim_alone(self, claim: Optional[Claim]) -> list:
        if claim is None:
            return []
        return await self._link.retry(lambda c: fetchall(c, *claim), self._give_up)

    async def _completed_by(self, missing: list[Outcome]) -> set[int]:
        rows = await self._link.retry(lambda c: fetchall(
            c, COMPLETED_BY_SQL, (self._owner, [o.task.id for o in missing],
                                  [o.task.lease_token for o in missing])), self._give_up)
        return {r[0] for r in rows}

    async def _complete(self, done: list[Outcome]) -> list[Outcome]:
        """Store the successes one by one; returns those the database refused, as
        failures."""
        failures = []
        for o in done:
            try:
                accepted, _ = await self._together([o], None)
            except Exception as exc:
                if self._link.is_connection_error(exc):
                    raise
                failures.append(refused(o, one_line(exc, limit=1000)))
                continue
            self._report([o], accepted)
        if len(done) > 1:
            log.warning(kv("batch_refused", worker=self._owner, tasks=len(done),
                           refused=len(failures)))
        return failures

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

"""Completer: stores outcomes on the work connection, and claims in the same transaction.

The slots put() outcomes from their threads; the worker's loop thread (the only one that
touches the work connection) calls exchange(): one round trip that stores every pending
success with complete_tasks and claims tasks for the free slots with claim_tasks, in one
statement (EXCHANGE_SQL: one round trip, one commit).  A finished task and the next one a
slot gets therefore cost one round trip and one commit, not two (bench/README.md).

Failures are stored one fail_task each.  Outcomes are isolated from each other: when the
transaction is refused for anything but a lost connection (a result over
max_result_bytes, JSON the server will not take), the claim is sent alone and each
success is stored alone, and one the database refuses becomes a fail_task of its task
("result is not storable as jsonb: ..."), so no other task's outcome in the batch is lost.
If even that fail_task is refused, the outcome is logged and dropped: the lease then runs
out and the reaper's crash budget bounds the task.  Nothing is retried for ever but a
lost connection, and that only until the shutdown gives up.  CompleterBase is what the
AsyncCompleter shares: which outcomes are stored, what is counted and logged.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any, Optional

import psycopg

from ..metrics import Metrics
from .events import kv, log, one_line
from .inflight import InFlight
from .link import Link
from .outcomes import Outcome, refused, storable_text

COMPLETE_SQL = "SELECT * FROM tasklease.complete_tasks(%s, %s, %s, %s::text[]::jsonb[])"
COMPLETED_BY_SQL = "SELECT * FROM tasklease.completed_by(%s, %s, %s)"
FAIL_SQL = "SELECT tasklease.fail_task(%s, %s, %s, %s)"
# complete_tasks, then the claim (the claim's one-time filter reads the completions first):
# rows (true, completed id, NULL...) and (false, claimed id, queue, payload, attempts, token).
EXCHANGE_SQL = """
WITH done AS MATERIALIZED (
    SELECT d AS id FROM tasklease.complete_tasks(%s, %s, %s, %s::text[]::jsonb[]) AS d
)
SELECT true, d.id, NULL::text, NULL::jsonb, NULL::int, NULL::bigint FROM done AS d
UNION ALL
SELECT false, c.id, c.queue, c.payload, c.attempts, c.lease_token
FROM tasklease.claim_tasks(%s, %s, %s, %s) AS c
WHERE (SELECT count(*) FROM done) >= 0
"""

# A claim to send with the completions: (sql, params) of claim_tasks (Claimer.statement),
# whose params also fill EXCHANGE_SQL's claim.
Claim = tuple[str, tuple]


class CompleterBase:
    """What Completer and AsyncCompleter share: which outcomes are stored, and what is
    counted and logged once the database has answered (the I/O is theirs)."""

    def __init__(self, link: Any, owner: str, inflight: InFlight, metrics: Metrics,
                 give_up: Callable[[], bool], stored: Callable[[], None]) -> None:
        self._link = link
        self._owner = owner
        self._inflight = inflight
        self._metrics = metrics
        self._give_up = give_up
        # Wakes the worker's loop: Completer calls it when an outcome arrives,
        # AsyncCompleter after each flush.
        self._stored = stored

    def _live(self, batch: list[Outcome]) -> list[Outcome]:
        """The outcomes still worth storing: not those of a lease a renewal found gone (the
        database would refuse them)."""
        live = []
        for o in batch:
            if o.task.gone:
                log.info(kv("outcome_dropped", worker=self._owner, task=o.task.id,
                            token=o.task.lease_token, reason="lease_lost"))
            else:
                live.append(o)
        return live

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

    def _fail_dropped(self, o: Outcome, exc: Exception) -> None:
        """fail_task refused the failure: it is dropped, the lease left to run out."""
        self._metrics.inc("dropped_outcomes")
        log.error(kv("outcome_dropped", worker=self._owner, task=o.task.id,
                     token=o.task.lease_token, reason="fail_refused", error=one_line(exc)))

    def _failed(self, o: Outcome, error: str, status: Optional[str]) -> None:
        """fail_task answered status (None: the lease was no longer ours)."""
        if status is None:
            self._inflight.lost(o.task, "fail_refused")
            return
        self._metrics.inc("failed")
        log.warning(kv("failed", worker=self._owner, task=o.task.id, token=o.task.lease_token,
                       attempt=o.task.attempts, status=status,
                       error=error.splitlines()[0] if error else ""))


class Completer(CompleterBase):
    def __init__(self, link: Link, owner: str, inflight: InFlight, metrics: Metrics,
                 give_up: Callable[[], bool], stored: Callable[[], None]) -> None:
        super().__init__(link, owner, inflight, metrics, give_up, stored)
        self._pending: queue.SimpleQueue[Outcome] = queue.SimpleQueue()

    # ------------------------------------------------------------ any thread
    def put(self, outcome: Outcome) -> None:
        """Called by the slots: store this outcome soon."""
        self._pending.put(outcome)
        self._stored()

    def pending(self) -> bool:
        return not self._pending.empty()

    # ------------------------------------------------- the worker's loop thread
    def flush(self) -> None:
        """Store every pending outcome (no claim)."""
        self.exchange(None)

    def exchange(self, claim: Optional[Claim]) -> list[tuple]:
        """Store the pending outcomes and run claim (if any) in the same transaction; the
        claimed rows.  Raises only for a lost connection given up on (claim not sent)."""
        batch = self._drain()
        if not batch and claim is None:
            return []
        try:
            return self._store(batch, claim)
        except Exception as exc:  # noqa: BLE001 - only a connection given up on gets here
            if batch:
                log.error(kv("outcomes_unstored", worker=self._owner, tasks=len(batch),
                             error=one_line(exc)))
            if claim is not None:
                raise
            return []
        finally:
            self._inflight.forget(o.task for o in batch)

    def close(self) -> None:
        self._link.close()

    def _drain(self) -> list[Outcome]:
        out: list[Outcome] = []
        while True:
            try:
                out.append(self._pending.get_nowait())
            except queue.Empty:
                return out

    def _store(self, batch: list[Outcome], claim: Optional[Claim]) -> list[tuple]:
        live = self._live(batch)
        done = [o for o in live if o.ok]
        failures = [o for o in live if not o.ok]
        try:
            accepted, rows = self._together(done, claim)
            self._report(done, accepted)
        except Exception as exc:
            if self._link.is_connection_error(exc) or not done:
                raise
            # Something in the batch poisoned the transaction: the claim alone, then
            # the completions one by one (only the poisoned ones fail).
            rows = self._claim_alone(claim)
            failures += self._complete(done)
        for o in failures:
            self._fail(o)
        return rows

    # ------------------------------------------------------------ completions
    def _together(self, done: list[Outcome], claim: Optional[Claim]) -> tuple[set[int], list]:
        """complete_tasks(done) and the claim in one statement."""
        ids = [o.task.id for o in done]
        tokens = [o.task.lease_token for o in done]
        results = [o.result for o in done]

        def both(c: psycopg.Connection) -> tuple[set[int], list]:
            if not done:  # a claim alone: one statement, its own transaction
                assert claim is not None
                return set(), c.execute(*claim).fetchall()
            if claim is None:
                return {r[0] for r in c.execute(
                    COMPLETE_SQL, (self._owner, ids, tokens, results)).fetchall()}, []
            rows = c.execute(EXCHANGE_SQL, (self._owner, ids, tokens, results,
                                            *claim[1])).fetchall()
            return {r[1] for r in rows if r[0]}, [r[1:] for r in rows if not r[0]]

        before = self._link.reconnects
        accepted, rows = self._link.retry(both, self._give_up)
        missing = [o for o in done if o.task.id not in accepted]
        if missing and self._link.reconnects != before:
            # A first attempt may have committed before the connection broke.
            accepted |= self._completed_by(missing)
        return accepted, rows

    def _claim_alone(self, claim: Optional[Claim]) -> list:
        if claim is None:
            return []
        return self._link.retry(lambda c: c.execute(*claim).fetchall(), self._give_up)

    def _completed_by(self, missing: list[Outcome]) -> set[int]:
        return set(self._link.retry(lambda c: [r[0] for r in c.execute(
            COMPLETED_BY_SQL, (self._owner, [o.task.id for o in missing],
                               [o.task.lease_token for o in missing])).fetchall()],
            self._give_up))

    def _complete(self, done: list[Outcome]) -> list[Outcome]:
        """Store the successes one by one; returns those the database refused, as
        failures."""
        failures = []
        for o in done:
            try:
                accepted, _ = self._together([o], None)
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
    def _fail(self, o: Outcome) -> None:
        error = storable_text(o.error)
        try:
            status = self._link.retry(lambda c: c.execute(
                FAIL_SQL, (o.task.id, self._owner, o.task.lease_token, error)).fetchone()[0],
                self._give_up)
        except Exception as exc:
            if self._link.is_connection_error(exc):
                raise
            self._fail_dropped(o, exc)
            return
        self._failed(o, error, status)

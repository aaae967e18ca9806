"""Completer: stores outcomes on its own thread and connection.

Successes go in one complete_tasks call per flush, failures one fail_task each.  Outcomes
are isolated from each other: when the batch is refused for anything but a lost
connection (a result over max_result_bytes, JSON the server will not take), each success
is stored alone, and one the database refuses becomes a fail_task of its task ("result is
not storable as jsonb: ..."), so no other task's outcome in the batch is lost.  If even
that fail_task is refused, the outcome is logged and dropped: the lease then runs out and
the reaper's crash budget bounds the task.  Nothing is retried for ever but a lost
connection, and that only until the shutdown gives up.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from ..metrics import Metrics
from .events import kv, log, one_line
from .inflight import InFlight
from .link import Link
from .outcomes import Outcome, refused, storable_text

COMPLETE_SQL = "SELECT * FROM tasklease.complete_tasks(%s, %s, %s, %s::text[]::jsonb[])"
COMPLETED_BY_SQL = "SELECT * FROM tasklease.completed_by(%s, %s, %s)"
FAIL_SQL = "SELECT tasklease.fail_task(%s, %s, %s, %s)"


class Completer:
    def __init__(self, link: Link, owner: str, inflight: InFlight, metrics: Metrics,
                 give_up: Callable[[], bool], stored: Callable[[], None]) -> None:
        self._link = link
        self._owner = owner
        self._inflight = inflight
        self._metrics = metrics
        self._give_up = give_up
        self._stored = stored  # called after each flush (wakes the claim loop)
        self._pending: queue.Queue[Outcome] = queue.Queue()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tasklease-completer",
                                        daemon=True)

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._thread.start()

    def put(self, outcome: Outcome) -> None:
        """Called by the slots: store this outcome soon."""
        self._pending.put(outcome)
        self._ready.set()

    def stop(self) -> None:
        """Store what is pending, then end (bounded by give_up)."""
        self._stopping.set()
        self._ready.set()
        self._thread.join()
        self._link.close()

    def _loop(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()
            try:
                self.flush()
            except BaseException as exc:  # noqa: BLE001 - the completer outlives a bug
                log.error(kv("completer_error", worker=self._owner, error=one_line(exc)))
            if self._stopping.is_set() and self._pending.empty():
                return

    # ------------------------------------------------------------------ flush
    def flush(self) -> None:
        batch = self._drain()
        if not batch:
            return
        try:
            self._store(batch)
        except Exception as exc:  # noqa: BLE001 - only a connection given up on gets here
            log.error(kv("outcomes_unstored", worker=self._owner, tasks=len(batch),
                         error=one_line(exc)))
        finally:
            self._inflight.forget(o.task for o in batch)
            self._stored()

    def _drain(self) -> list[Outcome]:
        out: list[Outcome] = []
        while True:
            try:
                out.append(self._pending.get_nowait())
            except queue.Empty:
                return out

    def _store(self, batch: list[Outcome]) -> None:
        live = []
        for o in batch:
            if o.task.gone:  # a renewal found the lease gone: the database would refuse it
                log.info(kv("outcome_dropped", worker=self._owner, task=o.task.id,
                            token=o.task.lease_token, reason="lease_lost"))
            else:
                live.append(o)
        failures = [o for o in live if not o.ok]
        failures += self._complete([o for o in live if o.ok])
        for o in failures:
            self._fail(o)

    # ------------------------------------------------------------ completions
    def _complete(self, done: list[Outcome]) -> list[Outcome]:
        """Store the successes; returns those the database refused, as failures."""
        if not done:
            return []
        try:
            accepted = self._complete_batch(done)
        except Exception as exc:
            if self._link.is_connection_error(exc):
                raise
            if len(done) == 1:
                return [refused(done[0], one_line(exc, limit=1000))]
            log.warning(kv("batch_refused", worker=self._owner, tasks=len(done),
                           error=one_line(exc)))
            # One by one: only the poisoned ones fail.
            return [failure for o in done for failure in self._complete([o])]
        self._report(done, accepted)
        return []

    def _complete_batch(self, done: list[Outcome]) -> set[int]:
        ids = [o.task.id for o in done]
        tokens = [o.task.lease_token for o in done]
        results = [o.result for o in done]
        before = self._link.reconnects
        accepted = set(self._link.retry(lambda c: [r[0] for r in c.execute(
            COMPLETE_SQL, (self._owner, ids, tokens, results)).fetchall()], self._give_up))
        missing = [o for o in done if o.task.id not in accepted]
        if missing and self._link.reconnects != before:
            # A first attempt may have committed before the connection broke.
            accepted |= set(self._link.retry(lambda c: [r[0] for r in c.execute(
                COMPLETED_BY_SQL, (self._owner, [o.task.id for o in missing],
                                   [o.task.lease_token for o in missing])).fetchall()],
                self._give_up))
        return accepted

    def _report(self, done: list[Outcome], accepted: set[int]) -> None:
        for o in done:
            if o.task.id in accepted:
                self._metrics.inc("completed")
                log.info(kv("completed", worker=self._owner, task=o.task.id,
                            token=o.task.lease_token))
            else:
                self._inflight.lost(o.task, "complete_refused")

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
            self._metrics.inc("dropped_outcomes")
            log.error(kv("outcome_dropped", worker=self._owner, task=o.task.id,
                         token=o.task.lease_token, reason="fail_refused", error=one_line(exc)))
            return
        if status is None:
            self._inflight.lost(o.task, "fail_refused")
            return
        self._metrics.inc("failed")
        log.warning(kv("failed", worker=self._owner, task=o.task.id, token=o.task.lease_token,
                       attempt=o.task.attempts, status=status,
                       error=error.splitlines()[0] if error else ""))

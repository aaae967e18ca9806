"""Claimer: takes tasks for idle slots (one claim_tasks call for all of them) on the main
connection, usually in the transaction that stores the last outcomes (statement() is sent
by the completer: Completer.exchange); and after that connection was re-opened, adopts the
leases this worker holds but does not track (a claim whose reply was lost with the
connection): they are run again, at-least-once, rather than left to expire."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Optional

from .link import Link
from .task import Task

CLAIM_SQL = ("SELECT id, queue, payload, attempts, lease_token "
             "FROM tasklease.claim_tasks(%s, %s, %s, %s)")
OWNED_SQL = ("SELECT id, queue, payload, attempts, lease_token, "
             "extract(epoch FROM lease_expires_at - now())::float8 "
             "FROM tasklease.owned_tasks(%s)")


class Claimer:
    def __init__(self, link: Link, owner: str, queue: Optional[str], lease_s: int,
                 give_up: Callable[[], bool]) -> None:
        self._link, self._owner, self._queue, self._lease_s = link, owner, queue, lease_s
        self._give_up = give_up
        self._seen_reconnects = link.reconnects

    def claim(self, n: int) -> list[Task]:
        """Up to n tasks, each with its local lease expiry counted from the send time."""
        sent = time.monotonic()
        rows = self._link.retry(lambda c: c.execute(*self.statement(n)).fetchall(),
                                self._give_up)
        return self.tasks(rows, sent)

    def statement(self, n: int) -> tuple[str, tuple]:
        """The claim of up to n tasks, as (sql, params)."""
        return CLAIM_SQL, (self._owner, n, self._queue, self._lease_s)

    def tasks(self, rows: list, sent: float) -> list[Task]:
        """The claimed rows as Tasks whose local lease expiry counts from sent, the
        time.monotonic() at which the claim was sent."""
        return [Task(r[0], r[1], r[2], r[3], r[4], lease_until=sent + self._lease_s)
                for r in rows]

    def reconnected(self) -> bool:
        """Whether the connection was re-opened since the last call."""
        seen, self._seen_reconnects = self._seen_reconnects, self._link.reconnects
        return seen != self._seen_reconnects

    def adopt(self, known: set[int]) -> list[Task]:
        """The leases this owner holds that are not in known (taken before the call: only
        this thread claims, so whatever else the database lists was claimed and lost)."""
        sent = time.monotonic()
        rows = self._link.retry(lambda c: c.execute(OWNED_SQL, (self._owner,)).fetchall(),
                                self._give_up)
        return [Task(r[0], r[1], r[2], r[3], r[4], lease_until=sent + max(r[5] or 0.0, 0.0))
                for r in rows if r[0] not in known]

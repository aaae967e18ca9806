"""Reaper: the worker's share of the reaper, on its own thread and connection.

Every 0.2..0.4 of reap_interval_s (jittered, so that workers started together do not call
in step) it calls reap_if_due(worker).  The database runs the reaper at most once per
reap_interval_s across every worker and pg_cron (reap_if_due skips the call when the last
run is recent, or another reaper is running, without waiting), so a run falls due at most
0.4 interval before a call makes it: runs are at most 1.4 reap_interval_s apart even
with one worker alive.  (Calls every 0.5..1 interval let one worker's runs drift up to two
intervals apart: a call just short of due waited for the next.)  A dead worker's tasks are
therefore requeued about worker_ttl_s + reap_interval_s after its last heartbeat while
any worker is alive, instead of waiting for the next pg_cron tick (a
minute on pg_cron 1.4), which stays the backstop when none is.  A busy claim loop cannot
delay it: it has its own connection and never waits for the loop.  Each decision is
logged (event=reaped, with the task, action, reason and the owner it was taken from), as
reaper_log records it with actor reap_if_due:<worker>.
"""

from __future__ import annotations

import random

import psycopg

from ..errors import TaskleaseError
from ..metrics import Metrics
from .events import kv, log, one_line
from .link import Link
from .service import Service

REAP_SQL = "SELECT task_id, action, reason, owner_id, attempts FROM tasklease.reap_if_due(%s)"
JITTER = (0.2, 0.4)  # of reap_interval_s, between calls
# With one worker left, its reaper's runs are at most this many reap_interval_s apart: a
# run falls due at most JITTER[1] interval before a call makes it.
RUNS_APART = 1 + JITTER[1]


class Reaper(Service):
    name = "reaper"

    def __init__(self, link: Link, owner: str, every_s: float, metrics: Metrics) -> None:
        super().__init__()
        self._link, self._owner, self._every_s, self._metrics = link, owner, every_s, metrics

    def _delay(self) -> float:
        return self._every_s * random.uniform(*JITTER)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._delay()):
                self.reap_once()
        finally:
            self._link.close()

    def reap_once(self) -> list[tuple]:
        """One reap_if_due call; the decisions it took (none when it was not due)."""
        try:
            rows = self._link.once(lambda c: c.execute(REAP_SQL, (self._owner,)).fetchall())
        except (psycopg.Error, TaskleaseError) as exc:
            log.warning(kv("reap_failed", worker=self._owner, error=one_line(exc)))
            return []
        for task_id, action, reason, owner, attempts in rows:
            log.warning(kv("reaped", worker=self._owner, task=task_id, action=action,
                           reason=reason, owner=owner, attempts=attempts))
        if rows:
            self._metrics.inc("reaped", len(rows))
        return rows

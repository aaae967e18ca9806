"""Keeping leases: LeaseKeeper renews them, DeadlineWatch says when one must be presumed lost.

LeaseKeeper sends one renew_leases call per tick for every lease in flight, on its own
connection, and moves each held lease's local expiry to (send time + lease_s).  A lease the
database no longer holds is marked gone and its handler told (task.lease_lost).

DeadlineWatch runs on its own timer, whatever the renewals and heartbeats are doing (a
renewal may hang until its statement_timeout): every tick it sets task.lease_lost for each
running handler whose local deadline (timing.local_deadline: the earlier of the
acknowledged lease expiry and the last acknowledged heartbeat + worker_ttl_s, minus the
margin) has passed, before the reaper could act for lease_expired or owner_dead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Optional

import psycopg

from ..errors import TaskleaseError
from ..metrics import Metrics
from .events import kv, log, one_line
from .inflight import InFlight
from .link import Link
from .service import Service
from .task import Task
from .timing import backoff_delays, local_deadline

RENEW_SQL = "SELECT task_id FROM tasklease.renew_leases(%s, %s, %s, %s)"


class LeaseKeeper(Service):
    name = "renewer"

    def __init__(self, link: Link, owner: str, lease_s: float, every_s: float,
                 inflight: InFlight, metrics: Metrics) -> None:
        super().__init__()
        self._link, self._owner, self._lease_s, self._every_s = link, owner, lease_s, every_s
        self._inflight, self._metrics = inflight, metrics

    def _run(self) -> None:
        delays = backoff_delays()
        delay = self._every_s
        try:
            while not self._stop.wait(delay):
                if self.renew_once():
                    delays, delay = backoff_delays(), self._every_s
                else:
                    delay = min(self._every_s, next(delays))
        finally:
            self._link.close()

    def renew_once(self) -> bool:
        """One renew_leases call for every lease in flight; False when it failed."""
        tasks = [t for t in self._inflight.snapshot() if not t.gone]
        if not tasks:
            return True
        sent = time.monotonic()
        try:
            rows = self._link.once(lambda c: c.execute(
                RENEW_SQL, (self._owner, [t.id for t in tasks], [t.lease_token for t in tasks],
                            int(self._lease_s))).fetchall())
        except (psycopg.Error, TaskleaseError) as exc:
            log.warning(kv("renew_failed", worker=self._owner, tasks=len(tasks),
                           error=one_line(exc)))
            return False
        self._metrics.observe_renew(time.monotonic() - sent)
        self._metrics.observe_margin(min(t.lease_until for t in tasks) - sent)
        held = {r[0] for r in rows}
        for t in tasks:
            if t.id in held:
                t.lease_until = sent + self._lease_s
            elif not t.finished:  # a finished one may just have been completed
                t.gone = True
                self._inflight.lost(t, "renewal_refused")
        return True


class DeadlineWatch(Service):
    name = "deadlines"

    def __init__(self, inflight: InFlight, heartbeat_acked: Callable[[], Optional[float]],
                 worker_ttl_s: Callable[[], float], margin_s: float, tick_s: float) -> None:
        super().__init__()
        self._inflight = inflight
        self._heartbeat_acked = heartbeat_acked
        self._worker_ttl_s = worker_ttl_s
        self._margin_s, self._tick_s = margin_s, tick_s

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            self.check(time.monotonic())

    def check(self, now: float) -> list[Task]:
        """Set lease_lost on every running handler past its local deadline; returns them."""
        acked, ttl = self._heartbeat_acked(), self._worker_ttl_s()
        late = []
        for t in self._inflight.snapshot():
            if t.gone or t.finished or t.lease_lost.is_set():
                continue
            deadline, reason = local_deadline(t.lease_until, acked, ttl, self._margin_s)
            if deadline < now:
                self._inflight.lost(t, reason)
                late.append(t)
        return late

"""Heartbeat: heartbeat() every heartbeat_s on its own connection, so a stuck handler or a
hung renewal never stops it.

It remembers when the last acknowledged heartbeat was *sent* (time.monotonic()): the
database's last_heartbeat is no earlier than that, so the reaper cannot find this worker
dead before acked_sent + worker_ttl_s.  worker_ttl_s is read back with every heartbeat, so
a change of the setting reaches the local deadlines within one interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..errors import TaskleaseError
from .events import kv, log, one_line
from .link import Link
from .service import Service
from .timing import backoff_delays

HEARTBEAT_SQL = "SELECT tasklease.heartbeat(%s, %s), tasklease._setting('worker_ttl_s')"


class Heartbeat(Service):
    name = "heartbeat"

    def __init__(self, link: Link, owner: str, every_s: float, info: Callable[[], dict[str, Any]],
                 acked_sent: float, worker_ttl_s: float) -> None:
        super().__init__()
        self._link, self._owner, self._every_s, self._info = link, owner, every_s, info
        self.acked_sent = acked_sent  # registration counts as the first heartbeat
        self.worker_ttl_s = worker_ttl_s

    def _run(self) -> None:
        delays = backoff_delays()
        delay = 0.0
        try:
            while not self._stop.wait(delay):
                if self.beat():
                    delays, delay = backoff_delays(), self._every_s
                else:
                    delay = min(self._every_s, next(delays))
        finally:
            self._link.close()

    def beat(self) -> bool:
        """One heartbeat; False when it was not acknowledged."""
        sent = time.monotonic()
        try:
            row = self._link.once(lambda c: c.execute(
                HEARTBEAT_SQL, (self._owner, Jsonb(self._info()))).fetchone())
        except (psycopg.Error, TaskleaseError) as exc:
            log.warning(kv("heartbeat_failed", worker=self._owner, error=one_line(exc)))
            return False
        self.acked_sent = sent
        if row is not None and row[1] != self.worker_ttl_s:
            self._ttl_changed(row[1])
        return True

    def _ttl_changed(self, ttl: float) -> None:
        log.info(kv("worker_ttl_changed", worker=self._owner, worker_ttl_s=ttl,
                    previous=self.worker_ttl_s))
        if not self._every_s < ttl / 2:
            log.warning(kv("intervals_invalid", worker=self._owner, heartbeat_s=self._every_s,
                           worker_ttl_s=ttl, rule="heartbeat_s < worker_ttl_s / 2"))
        self.worker_ttl_s = ttl

"""Listener: LISTEN tasklease on its own connection and wake the claim loop when a task of
this worker's queue is enqueued or given back.  Polling every poll_interval_s remains the
fallback, so a lost notification only costs latency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import psycopg

from .events import kv, log, one_line
from .link import Link
from .service import Service
from .timing import backoff_delays

NOTIFY_WAIT_S = 1.0


class Listener(Service):
    name = "listener"

    def __init__(self, link: Link, owner: str, queue: Optional[str],
                 wake: Callable[[], None]) -> None:
        super().__init__()
        self._link, self._owner, self._queue, self._wake = link, owner, queue, wake
        self._delays = backoff_delays()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._listen()
                except psycopg.Error as exc:
                    self._link.close()
                    log.warning(kv("listen_failed", worker=self._owner, error=one_line(exc)))
                    self._stop.wait(next(self._delays))
        finally:
            self._link.close()

    def _listen(self) -> None:
        conn = self._link.once(lambda c: c)
        conn.execute("LISTEN tasklease")
        self._delays = backoff_delays()
        self._wake()  # notifications may have been missed while away
        while not self._stop.is_set():
            for note in conn.notifies(timeout=NOTIFY_WAIT_S):
                if self._queue is None or note.payload == self._queue:
                    self._wake()

"""LoopWatch: measures the event loop's lag from a thread, so that a handler which blocks
the loop (CPU work or a blocking call in an async def) is seen and said.

Every tick it hands the loop a callback (call_soon_threadsafe) and times how late the loop
runs it.  A callback still waiting after limit_s means the loop is blocked: the watch logs
event=loop_blocked once (with the tasks in flight: their handlers cannot see lease_lost
and their outcomes wait, so their leases are at risk), counts it
(tasklease_loop_blocked_total) and keeps tasklease_loop_lag_seconds and
tasklease_leases_at_risk up to date; when the loop runs the callback, event=loop_unblocked
says for how long it was blocked.  Heartbeats and renewals run on their own threads and go
on meanwhile (leases are kept, as for a slow handler of the threaded worker).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Optional

from ..metrics import Metrics
from ..worker.events import kv, log
from ..worker.inflight import InFlight
from ..worker.service import Service
from ..worker.timing import LOOP_LAG_LIMIT_S, LOOP_TICK_S

LOGGED_IDS = 20


class LoopWatch(Service):
    name = "loopwatch"

    def __init__(self, loop: asyncio.AbstractEventLoop, inflight: InFlight, metrics: Metrics,
                 owner: str, limit_s: float = LOOP_LAG_LIMIT_S,
                 tick_s: float = LOOP_TICK_S) -> None:
        super().__init__()
        self._loop, self._inflight, self._metrics, self._owner = loop, inflight, metrics, owner
        self._limit_s, self._tick_s = limit_s, tick_s
        self._lock = threading.Lock()
        self._sent: Optional[float] = None  # when the callback now waiting was handed over
        self._blocked_since: Optional[float] = None

    def blocked_s(self, now: float) -> Optional[float]:
        """For how long the loop has been blocked, None when it is not."""
        with self._lock:
            return None if self._blocked_since is None else now - self._blocked_since

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        with self._lock:
            sent = self._sent
            if sent is None:
                self._sent = now
        if sent is None:
            try:
                self._loop.call_soon_threadsafe(self._pong, now)
            except RuntimeError:  # the loop is closed: nothing left to watch
                self._stop.set()
            return
        waited = now - sent
        if waited < self._limit_s:
            return
        tasks = self._inflight.snapshot()
        with self._lock:
            first = self._blocked_since is None and self._sent == sent
            if first:
                self._blocked_since = sent
        self._metrics.set_loop_lag(waited, len(tasks))
        if first:
            self._metrics.inc("loop_blocked")
            ids = [str(t.id) for t in tasks[:LOGGED_IDS]]
            log.warning(kv("loop_blocked", worker=self._owner, lag_s=f"{waited:.2f}",
                           in_flight=len(tasks), at_risk=",".join(ids) or None))

    def _pong(self, sent: float) -> None:
        """On the loop: the callback ran."""
        now = time.monotonic()
        with self._lock:
            self._sent = None
            since, self._blocked_since = self._blocked_since, None
        self._metrics.set_loop_lag(now - sent, 0)
        if since is not None:
            log.warning(kv("loop_unblocked", worker=self._owner, blocked_s=f"{now - since:.2f}"))

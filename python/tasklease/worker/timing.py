"""The worker's time arithmetic: the interval rule, local lease deadlines, the bounds of
its connections, backoff.  Pure: no threads, no I/O, so that any worker flavour (threads
today, asyncio later) shares it.

Times the database judges (lease expiry, heartbeat age) come from its clock; the worker
only keeps *local* deadlines on time.monotonic(), measured from the moment a call was
sent.  A claim or renewal sent at s and acknowledged holds its lease until at least
s + lease_s on the database's clock (the database's now() is later than s); a heartbeat
sent at h and acknowledged keeps the worker alive until at least h + worker_ttl_s.  So
the local deadline of a lease, the earlier of the two minus a margin, always falls before
the reaper could act for lease_expired or owner_dead.

The interval rule (checked at start, refused with InvalidWorkerConfig):
  heartbeat_s   < worker_ttl_s / 2   two heartbeats, and a retry, before the TTL runs out
  renew_every_s < lease_s / 2        two renewals, and a retry, before a lease runs out
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

from ..errors import InvalidWorkerConfig

BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0
# A lost connection is tried again at least this often: a worker claims again within about
# a second of the server accepting connections (a refused attempt costs the server little).
RECONNECT_MAX_S = 1.0
MARGIN_SHARE, MARGIN_MIN_S, MARGIN_MAX_S = 0.1, 0.5, 5.0
TICK_MAX_S = 0.25
RENEW_MIN_S = 0.2
# Claims, completions, failures and the release touch at most a batch of rows; one still
# running after this long waits on a lock or a sick server and is better cancelled and
# retried (a bounded number of times) than waited for.
WORK_STATEMENT_TIMEOUT_S = 30.0
LIVENESS_TIMEOUT_MIN_S, LIVENESS_TIMEOUT_MAX_S = 1.0, 30.0
# An event loop that has not run a callback handed to it this long ago is blocked (an
# AsyncWorker's handler that does not await); it is probed every LOOP_TICK_S.
LOOP_LAG_LIMIT_S = 1.0
LOOP_TICK_S = 0.1


def check_options(concurrency: int, lease_s: Optional[float], renew_every_s: Optional[float],
                  heartbeat_s: float, grace_s: float, prefetch: Optional[int] = None) -> None:
    """InvalidWorkerConfig for what can be judged before the database's settings are read
    (every worker flavour checks the same)."""
    if concurrency < 1:
        raise InvalidWorkerConfig("concurrency must be at least 1")
    if lease_s is not None and lease_s < 1:
        raise InvalidWorkerConfig("lease_s must be at least 1 second")
    if grace_s < 0:
        raise InvalidWorkerConfig("grace_s must not be negative")
    if prefetch is not None and prefetch < 0:
        raise InvalidWorkerConfig("prefetch must not be negative")
    if lease_s is not None:
        renew = renew_every_s or default_renew_every_s(lease_s)
        Intervals(lease_s, renew, float("inf"), heartbeat_s).check()


def default_renew_every_s(lease_s: float) -> float:
    """A third of the lease: two more chances before it runs out."""
    return max(lease_s / 3.0, RENEW_MIN_S)


@dataclass(frozen=True)
class Intervals:
    """The four intervals a worker runs by, in seconds."""

    lease_s: float
    renew_every_s: float
    worker_ttl_s: float
    heartbeat_s: float

    def problems(self) -> list[str]:
        """What breaks the interval rule, one sentence each (empty when valid)."""
        out = []
        for name in ("lease_s", "renew_every_s", "worker_ttl_s", "heartbeat_s"):
            if not getattr(self, name) > 0:
                out.append(f"{name} must be positive, got {getattr(self, name)}")
        if out:
            return out
        if not self.heartbeat_s < self.worker_ttl_s / 2:
            out.append(
                f"heartbeat_s ({self.heartbeat_s:g}) must be less than half of worker_ttl_s "
                f"({self.worker_ttl_s:g} s): lower --heartbeat-s or raise the worker_ttl_s "
                "setting")
        if not self.renew_every_s < self.lease_s / 2:
            out.append(
                f"renew_every_s ({self.renew_every_s:g}) must be less than half of lease_s "
                f"({self.lease_s:g} s): lower --renew-every-s or raise --lease-s")
        return out

    def check(self) -> Intervals:
        """self, or InvalidWorkerConfig naming every broken rule on one line."""
        problems = self.problems()
        if problems:
            raise InvalidWorkerConfig("; ".join(problems))
        return self

    @property
    def margin_s(self) -> float:
        """How long before the database could act the worker already treats a lease as
        lost: a tenth of the shorter of lease and TTL, 0.5 to 5 s, never over a quarter."""
        shorter = min(self.lease_s, self.worker_ttl_s)
        return min(max(MARGIN_SHARE * shorter, MARGIN_MIN_S), MARGIN_MAX_S, shorter / 4)

    @property
    def tick_s(self) -> float:
        """How often local deadlines are checked: at most half the margin, so a deadline is
        noticed well inside it."""
        return min(TICK_MAX_S, self.margin_s / 2)

    @property
    def liveness_timeout_s(self) -> float:
        """statement_timeout of the renewal and heartbeat connections: a quarter of the
        shorter of lease and TTL (1 to 30 s), so a hung call is cancelled with time left
        for a retry before the margin."""
        shorter = min(self.lease_s, self.worker_ttl_s)
        return min(max(shorter / 4, LIVENESS_TIMEOUT_MIN_S), LIVENESS_TIMEOUT_MAX_S)


def local_deadline(lease_until: float, heartbeat_acked: Optional[float], worker_ttl_s: float,
                   margin_s: float) -> tuple[float, str]:
    """(monotonic deadline, reason) of one lease: the earlier of its acknowledged expiry and
    the last acknowledged heartbeat + worker_ttl_s, minus the margin.  The reason is
    "deadline" when the lease ends first, "heartbeat_deadline" when the heartbeat does."""
    if heartbeat_acked is not None and heartbeat_acked + worker_ttl_s < lease_until:
        return heartbeat_acked + worker_ttl_s - margin_s, "heartbeat_deadline"
    return lease_until - margin_s, "deadline"


@dataclass(frozen=True)
class ConnectionBounds:
    """How long one statement may run and how fast a dead peer is noticed."""

    statement_timeout_s: float

    @property
    def statement_timeout_ms(self) -> int:
        return max(int(self.statement_timeout_s * 1000), 1)

    def libpq_params(self) -> dict[str, int]:
        """connect_timeout, TCP keepalives and tcp_user_timeout scaled to the statement
        timeout: a silent peer is given up within about the time a statement may take."""
        bound = self.statement_timeout_s
        return {
            "connect_timeout": max(2, math.ceil(bound)),
            "keepalives": 1,
            "keepalives_idle": max(1, int(bound / 3)),
            "keepalives_interval": max(1, int(bound / 6)),
            "keepalives_count": 3,
            "tcp_user_timeout": self.statement_timeout_ms,
        }


def backoff_delays(base: float = BACKOFF_MIN_S, cap: float = BACKOFF_MAX_S) -> Iterator[float]:
    """Exponential backoff with full jitter: an endless iterator of delays in seconds."""
    n = 0
    while True:
        yield random.uniform(base, min(cap, base * 2**n))
        n = min(n + 1, 30)

"""Drain a pre-filled queue with N client processes, each on its own autocommit connection.

One process per connection (multiprocessing, fork), so the Python GIL never caps the client.
Every process connects, waits at a barrier, then claims and completes until a claim comes
back empty.  Throughput = jobs completed / (last process done - start signal).  Each claim's
round trip is timed in the client for the latency percentiles.

Timing uses the client's monotonic clock (CLOCK_MONOTONIC, the same in every process): it
measures what a client sees.  The queue itself never reads a client clock.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import psycopg

# ---------------------------------------------------------------- the paths under test


@dataclass(frozen=True)
class QueuePath:
    """A claim statement and a complete statement; batch > 1 completes with one array call."""

    name: str
    table: str  # what the loader fills: "floor" or "tasklease"
    batch: int
    claim: str  # params: owner, n -> rows (id, token)
    complete: Callable[[psycopg.Connection, str, list], int]


FLOOR_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT id FROM bench_floor.jobs
    WHERE status = 'queued'
    ORDER BY id
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
)
UPDATE bench_floor.jobs AS j
SET status = 'running', owner = %(owner)s, attempts = j.attempts + 1, claimed_at = now()
FROM picked WHERE j.id = picked.id
RETURNING j.id, j.attempts, j.payload
"""

FLOOR_COMPLETE_ONE = """
UPDATE bench_floor.jobs SET status = 'done', finished_at = now()
WHERE id = %s AND owner = %s AND status = 'running'
"""

FLOOR_COMPLETE_MANY = """
UPDATE bench_floor.jobs SET status = 'done', finished_at = now()
WHERE id = ANY(%s) AND owner = %s AND status = 'running'
"""


def _floor_complete(conn: psycopg.Connection, owner: str, rows: list) -> int:
    if len(rows) == 1:
        return conn.execute(FLOOR_COMPLETE_ONE, (rows[0][0], owner)).rowcount
    return conn.execute(FLOOR_COMPLETE_MANY, ([r[0] for r in rows], owner)).rowcount


def _api_complete_one(conn: psycopg.Connection, owner: str, rows: list) -> int:
    (ok,) = conn.execute(
        "SELECT tasklease.complete_task(%s, %s, %s)", (rows[0][0], owner, rows[0][1])
    ).fetchone()
    return int(ok)


def _api_complete_many(conn: psycopg.Connection, owner: str, rows: list) -> int:
    ids = [r[0] for r in rows]
    tokens = [r[1] for r in rows]
    cur = conn.execute(
        "SELECT count(*) FROM tasklease.complete_tasks(%s, %s::bigint[], %s::bigint[])",
        (owner, ids, tokens),
    )
    return cur.fetchone()[0]


API_CLAIM_ONE = "SELECT id, lease_token, payload FROM tasklease.claim_task(%(owner)s)"
API_CLAIM_MANY = "SELECT id, lease_token, payload FROM tasklease.claim_tasks(%(owner)s, %(n)s)"


def paths(batch: int) -> dict:
    """The four drained paths, by name."""
    return {
        "floor_single": QueuePath("floor_single", "floor", 1, FLOOR_CLAIM, _floor_complete),
        "api_single": QueuePath("api_single", "tasklease", 1, API_CLAIM_ONE, _api_complete_one),
        "floor_batch": QueuePath("floor_batch", "floor", batch, FLOOR_CLAIM, _floor_complete),
        "api_batch": QueuePath("api_batch", "tasklease", batch, API_CLAIM_MANY, _api_complete_many),
    }


# ---------------------------------------------------------------- one client process


def _client(dsn, path: QueuePath, owner, barrier, go, out) -> None:
    result = {"owner": owner, "done": 0, "lat": [], "end": None, "error": None}
    try:
        with psycopg.connect(dsn, autocommit=True, application_name=f"bench:{owner}") as conn:
            params = {"owner": owner, "n": path.batch}
            barrier.wait(timeout=120)
            go.wait(timeout=120)
            lat = result["lat"]
            while True:
                t0 = time.perf_counter()
                rows = conn.execute(path.claim, params).fetchall()
                t1 = time.perf_counter()
                if not rows:
                    break
                lat.append(t1 - t0)
                result["done"] += path.complete(conn, owner, rows)
            result["end"] = time.perf_counter()
    except Exception as exc:  # reported to the parent, which raises
        result["error"] = f"{type(exc).__name__}: {exc}"
    out.put(result)


def percentile(values: list, q: float) -> float:
    """The q-th percentile (0..100), nearest rank on the sorted values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def drain(dsn: str, path: QueuePath, procs: int, tag: str = "") -> dict:
    """Drain the loaded queue with procs processes; throughput and claim latency of the run."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs + 1)
    go = ctx.Event()
    out = ctx.Queue()
    workers = [
        ctx.Process(
            target=_client,
            args=(dsn, path, f"bench-{path.name}{tag}-{i}", barrier, go, out),
            daemon=True,
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    barrier.wait(timeout=120)
    start = time.perf_counter()
    go.set()
    results = [out.get(timeout=1800) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    errors = [r["error"] for r in results if r["error"]]
    if errors:
        raise RuntimeError(f"{path.name} x{procs}: {errors[0]}")
    elapsed = max(r["end"] for r in results) - start
    done = sum(r["done"] for r in results)
    lat = [x for r in results for x in r["lat"]]
    return {
        "jobs": done,
        "seconds": elapsed,
        "jobs_per_s": done / elapsed if elapsed > 0 else 0.0,
        "claim_p50_ms": percentile(lat, 50) * 1000,
        "claim_p99_ms": percentile(lat, 99) * 1000,
    }


def median(values: list) -> float:
    return statistics.median(values) if values else float("nan")

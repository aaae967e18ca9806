"""Section enqueue: one task per call, tasklease.enqueue() against a raw INSERT, and whether
an idle worker is still woken by a lone enqueue.

  raw_insert   INSERT INTO tasklease.tasks (queue, payload) VALUES (...): the same table and
               indexes without the function (checks, settings, NOTIFY)
  definer      SELECT tasklease_bench.insert_only(payload): what the contract's function
               layer costs by itself: a SECURITY DEFINER plpgsql function with a pinned
               search_path (DESIGN.md, Roles) holding only that INSERT and returning the
               id; the bench creates it in schema tasklease_bench and drops it after
  enqueue      SELECT tasklease.enqueue(payload)
All from `enqueue_procs` processes (autocommit, one commit per task), on an emptied table,
with a LISTEN session open on channel tasklease as a worker has.  Tasks per second.  The
three run back to back, `enqueue_pairs` times, each going first in turn; the target is the
median of the rounds' ratios enqueue / raw_insert, and definer / raw_insert and enqueue /
definer split it into the function layer and what enqueue does inside it (its checks, the
look at queue_wakeups, the NOTIFYs): this box's throughput drifts by 10-20%
within a minute, so a ratio of two medians taken minutes apart (the section's first form, 3
runs each) came out anywhere from 0.63 to 0.85 for one build; a pair shares the drift
(bench/ab.py does the same).  A run of 8,000 tasks took 2-3 s and single pairs ranged from
0.57 to 0.92 for one build, so a run is 16,000 tasks and there are 9 pairs.

Wake-up: one idle `tasklease worker` with --poll-interval-s 5 (so polling cannot hide a lost
wake-up); `wake_tasks` lone enqueues, 0.3 s apart, each on an empty queue; the pickup
latency of each (enqueue commit to claim, database clock: created_at to the claim's
last_heartbeat) must be far below the poll interval.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Callable

import psycopg

from . import drain, schema, worker_e2e
from .config import Config

Log = Callable[[str], None]

PATHS = {
    "raw_insert": "INSERT INTO tasklease.tasks (queue, payload) VALUES ('default', %s::jsonb)",
    "definer": "SELECT tasklease_bench.insert_only(%s::jsonb)",
    "enqueue": "SELECT tasklease.enqueue(%s::jsonb)",
}
WAKE_POLL_S = 5.0
DEFINER_SQL = """
CREATE SCHEMA IF NOT EXISTS tasklease_bench;
CREATE OR REPLACE FUNCTION tasklease_bench.insert_only(payload jsonb)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO tasklease.tasks AS t (queue, payload) VALUES ('default', insert_only.payload)
    RETURNING t.id INTO v_id;
    RETURN v_id;
END
$$;
"""


def _producer(dsn, sql, calls, tag, barrier, go, out) -> None:
    result = {"end": None, "error": None}
    try:
        with psycopg.connect(dsn, autocommit=True, application_name=f"bench:{tag}") as conn:
            barrier.wait(timeout=120)
            go.wait(timeout=120)
            for i in range(calls):
                conn.execute(sql, (f'{{"n": {i}}}',))
            result["end"] = time.perf_counter()
    except Exception as exc:  # reported to the parent, which raises
        result["error"] = f"{type(exc).__name__}: {exc}"
    out.put(result)


def rate(dsn: str, sql: str, procs: int, calls: int, tag: str) -> float:
    """Tasks per second of procs processes each running sql `calls` times."""
    ctx = mp.get_context("fork")
    barrier, go, out = ctx.Barrier(procs + 1), ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_producer, daemon=True,
                           args=(dsn, sql, calls, f"{tag}-{i}", barrier, go, out))
               for i in range(procs)]
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
        raise RuntimeError(f"{tag}: {errors[0]}")
    return procs * calls / (max(r["end"] for r in results) - start)


def wake_latency(dsn: str, tasks: int) -> dict:
    """Pickup latency (ms, database clock) of lone enqueues on an idle worker."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.empty_tasklease(conn)
        procs = worker_e2e.start_workers(dsn, ["bench-wake"], 1,
                                         extra=("--poll-interval-s", str(WAKE_POLL_S)))
        try:
            worker_e2e.wait_registered(conn, ["bench-wake"], procs)
            time.sleep(1.0)  # the worker's first claims are done: it waits for a wake-up
            for i in range(tasks):
                conn.execute("SELECT tasklease.enqueue(%s::jsonb)", (f'{{"n": {i}}}',))
                time.sleep(0.3)
            worker_e2e.wait_done(conn, tasks, procs, timeout=60)
            lat = [r[0] for r in conn.execute(
                "SELECT (extract(epoch FROM last_heartbeat - created_at) * 1000)::float8"
                " FROM tasklease.tasks ORDER BY id").fetchall()]
        finally:
            worker_e2e.stop_workers(procs)
        schema.empty_tasklease(conn)
    return {"tasks": tasks, "poll_interval_s": WAKE_POLL_S,
            "p50_ms": drain.percentile(lat, 50), "max_ms": max(lat)}


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{"rates": {path: {runs, per_s}}, "ratio": median round ratio enqueue / raw_insert,
    "pair_ratios" (per round), "definer_ratio" (definer / raw_insert), "over_definer"
    (enqueue / definer), "ratio_of_medians", "wake": {...}}."""
    raw: dict = {name: [] for name in PATHS}
    calls = max(1, cfg.enqueue_tasks // cfg.enqueue_procs)
    with psycopg.connect(dsn, autocommit=True) as conn, \
            psycopg.connect(dsn, autocommit=True) as listener:
        conn.execute(DEFINER_SQL)
        listener.execute("LISTEN tasklease")  # a listener exists, as with running workers
        try:
            for rep in range(cfg.enqueue_pairs):
                # Each path goes first in turn: whatever favours the first (or
                # last) run of a round favours no path overall.
                order = list(PATHS.items())
                shift = rep % len(order)
                for name, sql in order[shift:] + order[:shift]:
                    schema.empty_tasklease(conn)
                    schema.settle(conn, "tasklease.tasks")
                    r = rate(dsn, sql, cfg.enqueue_procs, calls, f"{name}-r{rep}")
                    raw[name].append(r)
                    log(f"  round {rep + 1}/{cfg.enqueue_pairs} {name:<11}"
                        f" x{cfg.enqueue_procs} {r:9.0f} tasks/s")
                    for _ in listener.notifies(timeout=0.01):
                        pass  # drained, so the server's queue of notifications stays small
        finally:
            conn.execute("DROP SCHEMA IF EXISTS tasklease_bench CASCADE")
        schema.empty_tasklease(conn)
    rates = {name: {"runs": [round(x, 1) for x in xs], "per_s": drain.median(xs)}
             for name, xs in raw.items()}

    def ratios(a: str, b: str) -> list:
        return [x / y for x, y in zip(raw[a], raw[b])]

    pairs = ratios("enqueue", "raw_insert")
    wake = wake_latency(dsn, cfg.wake_tasks)
    log(f"  wake-up of an idle worker (poll {WAKE_POLL_S:g} s): p50 {wake['p50_ms']:.1f} ms,"
        f" max {wake['max_ms']:.1f} ms over {wake['tasks']} lone enqueues")
    return {"procs": cfg.enqueue_procs, "rates": rates,
            "ratio": drain.median(pairs), "pair_ratios": [round(x, 3) for x in pairs],
            "definer_ratio": drain.median(ratios("definer", "raw_insert")),
            "over_definer": drain.median(ratios("enqueue", "definer")),
            "ratio_of_medians": rates["enqueue"]["per_s"] / rates["raw_insert"]["per_s"],
            "wake": wake}

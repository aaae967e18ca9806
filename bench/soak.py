"""Section 5b: table and index size over a soak of claim/complete cycles (bloat).

soak_procs clients each loop: enqueue_many(batch), claim_tasks(batch), complete_tasks, so
the queue keeps a steady backlog; a pruner calls prune_finished_tasks() every second with
finished_retention_s lowered to 1 s (the pg_cron job runs prune() every minute with a
week's retention), and autovacuum runs with the cluster's settings.  One cycle is one task
claimed and completed.  Sizes are sampled over the soak; "no steady growth" means the
largest size in the second half of the soak is at most 1.2 x the largest in the first half.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Callable

import psycopg

from . import schema
from .config import Config

Log = Callable[[str], None]
GROWTH_LIMIT = 1.2

SIZES = """
SELECT pg_table_size('tasklease.tasks'), pg_indexes_size('tasklease.tasks'),
    s.n_live_tup, s.n_dead_tup, s.autovacuum_count
FROM pg_stat_user_tables AS s WHERE s.relid = 'tasklease.tasks'::regclass
"""


def _sample(conn: psycopg.Connection, cycles: int, t0: float) -> dict:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    table, index, live, dead, av = conn.execute(SIZES).fetchone()
    return {
        "t_s": round(time.perf_counter() - t0, 2),
        "cycles": cycles,
        "table_bytes": table,
        "index_bytes": index,
        "live_tup": live,
        "dead_tup": dead,
        "autovacuums": av,
    }


def _cycler(dsn: str, owner: str, batch: int, quota: int, counter, out) -> None:
    done = 0
    error = None
    payloads = [{"n": i} for i in range(batch)]
    try:
        with psycopg.connect(dsn, autocommit=True, application_name=f"bench:{owner}") as conn:
            while done < quota:
                conn.execute(
                    "SELECT count(*) FROM tasklease.enqueue_many(%s::jsonb[])",
                    ([psycopg.types.json.Jsonb(p) for p in payloads],),
                )
                rows = conn.execute(
                    "SELECT id, lease_token FROM tasklease.claim_tasks(%s, %s)", (owner, batch)
                ).fetchall()
                if not rows:
                    continue
                (n,) = conn.execute(
                    "SELECT count(*) FROM tasklease.complete_tasks(%s, %s::bigint[], %s::bigint[])",
                    (owner, [r[0] for r in rows], [r[1] for r in rows]),
                ).fetchone()
                done += n
                with counter.get_lock():
                    counter.value += n
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    out.put(error)


def _pruner(dsn: str, stop: threading.Event, pruned: list) -> None:
    with psycopg.connect(dsn, autocommit=True, application_name="bench:pruner") as conn:
        while not stop.wait(1.0):
            while True:
                (n,) = conn.execute("SELECT tasklease.prune_finished_tasks()").fetchone()
                pruned[0] += n
                if n < 5000:
                    break


def _peak_growth(samples: list, key: str) -> float:
    """Largest value of key in the second half of the soak / largest in the first half."""
    if len(samples) < 4:
        return float("nan")
    half = samples[-1]["cycles"] / 2
    first = [s[key] for s in samples if s["cycles"] <= half]
    second = [s[key] for s in samples if s["cycles"] > half]
    if not first or not second or max(first) == 0:
        return float("nan")
    return max(second) / max(first)


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{cycles, seconds, before, after, samples, table_growth, index_growth, no_growth}."""
    interval = 0.2 if cfg.quick else 2.0
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.load_tasks(conn, cfg.soak_backlog)
        (old_retention,) = conn.execute(
            "SELECT tasklease.set_setting('finished_retention_s', 1)"
        ).fetchone()
        t0 = time.perf_counter()
        samples = [_sample(conn, 0, t0)]
        ctx = mp.get_context("fork")
        counter = ctx.Value("q", 0)
        out = ctx.Queue()
        quota = -(-cfg.soak // cfg.soak_procs)
        procs = [
            ctx.Process(
                target=_cycler, args=(dsn, f"bench-soak-{i}", cfg.batch, quota, counter, out)
            )
            for i in range(cfg.soak_procs)
        ]
        stop, pruned = threading.Event(), [0]
        pruner = threading.Thread(target=_pruner, args=(dsn, stop, pruned), daemon=True)
        try:
            for p in procs:  # fork before the pruner thread starts
                p.start()
            pruner.start()
            while any(p.is_alive() for p in procs):
                time.sleep(interval)
                samples.append(_sample(conn, counter.value, t0))
                if not cfg.quick and len(samples) % 15 == 0:
                    s = samples[-1]
                    log(f"  soak: {s['cycles']} cycles, table {s['table_bytes'] >> 20} MB,"
                        f" indexes {s['index_bytes'] >> 20} MB")
            errors = [e for e in (out.get(timeout=60) for _ in procs) if e]
        finally:
            stop.set()
            pruner.join(timeout=30)
            for p in procs:
                p.join(timeout=60)
            conn.execute(
                "SELECT tasklease.set_setting('finished_retention_s', %s)", (old_retention,)
            )
        if errors:
            raise RuntimeError(f"soak: {errors[0]}")
        seconds = time.perf_counter() - t0
        after = _sample(conn, counter.value, t0)
        samples.append(after)
        schema.empty_tasklease(conn)
    result = {
        "cycles": counter.value,
        "seconds": seconds,
        "cycles_per_s": counter.value / seconds if seconds else 0.0,
        "pruned": pruned[0],
        "before": samples[0],
        "after": after,
        "samples": samples,
        "table_growth": _peak_growth(samples, "table_bytes"),
        "index_growth": _peak_growth(samples, "index_bytes"),
    }
    result["no_growth"] = bool(
        result["table_growth"] <= GROWTH_LIMIT and result["index_growth"] <= GROWTH_LIMIT
    )
    log(
        f"  {result['cycles']} cycles in {seconds:.0f} s ({result['cycles_per_s']:.0f}/s):"
        f" table {samples[0]['table_bytes'] >> 10} -> {after['table_bytes'] >> 10} kB,"
        f" indexes {samples[0]['index_bytes'] >> 10} -> {after['index_bytes'] >> 10} kB;"
        f" peak 2nd half / 1st half: table {result['table_growth']:.2f},"
        f" indexes {result['index_growth']:.2f}"
    )
    return result

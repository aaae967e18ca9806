"""Sections steady and burst: a producer at a fixed rate against one worker, 1 ms handlers.

  steady  `steady_rate` tasks/s for `steady_s` seconds, one `tasklease worker
          bench.noop:sleep1ms --concurrency 32`: pickup latency p50/p99 (insert to handler
          start); then the saturation throughput of the same worker (a pre-filled queue
          drained, database clock), during which a short lease (6 s, renewed every 2 s)
          gives the lease margin at saturation: the smallest remaining lease time
          (lease_expires_at - now() on the database clock, just before the renewal
          replaced it) over every renewal of the drain.
  burst   `burst_phases` (900/s for 20 s, then 1,350/s for 40 s), concurrency 64: per second
          the completions, the backlog and the pickup p99, and when autovacuum and
          autoanalyze of tasklease.tasks ran (on the table emptied before the run, as a new
          install or a truncated bench table is: the case where the load stepped up before
          the table was ever analyzed).

Producers are `producer_procs` processes sending, together, one enqueue_many every 5 ms
with the tasks due in those 5 ms (3 at 600/s), on an absolute schedule (a late call is
sent at once, never skipped): a steady rate that the producers can hold on a loaded box
(one call per task could not: at 900/s three producers managed about 200/s while other
benches ran).  The run records how long the sending took.  Pickup
latency is the handler's start (time.time() in the handler, this host's clock) minus the
task's created_at (now() of the enqueue transaction, the same host's clock).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Callable

import psycopg
from psycopg.types.json import Jsonb

from . import drain, schema, worker_e2e
from .config import Config

Log = Callable[[str], None]
HANDLER = "bench.noop:sleep1ms"
MARGIN_LEASE_S = 6

# Bench-only: record, at every renewal, how much of the old lease was left (database clock).
MARGIN_DDL = """
CREATE TABLE IF NOT EXISTS bench_floor.lease_margins (margin_s float8 NOT NULL);
TRUNCATE bench_floor.lease_margins;
CREATE OR REPLACE FUNCTION bench_floor.record_margin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_floor.lease_margins
    VALUES (extract(epoch FROM OLD.lease_expires_at - now()));
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER bench_lease_margin AFTER UPDATE ON tasklease.tasks
FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status = 'running'
    AND OLD.lease_token = NEW.lease_token
    AND NEW.lease_expires_at > OLD.lease_expires_at)
EXECUTE FUNCTION bench_floor.record_margin();
"""
MARGIN_DROP = "DROP TRIGGER IF EXISTS bench_lease_margin ON tasklease.tasks"


TICK_S = 0.005  # the producers together send one enqueue_many every 5 ms
LEAD_S = 1.0  # the producer processes start this long before their schedule


def _producer(dsn: str, phases: list, index: int, procs: int, t0: float, out) -> None:
    """Ticks index, index + procs, ... of the schedule; tick k carries the tasks due
    between k and k + 1 ticks (cumulative rounding, so each phase's rate is exact)."""
    error, sent = None, 0
    try:
        with psycopg.connect(dsn, autocommit=True, application_name="bench:producer") as conn:
            start = t0
            for rate, secs in phases:
                ticks = int(secs / TICK_S)
                for k in range(index, ticks, procs):
                    n = int((k + 1) * TICK_S * rate) - int(k * TICK_S * rate)
                    if n == 0:
                        continue
                    delay = start + k * TICK_S - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    conn.execute("SELECT count(*) FROM tasklease.enqueue_many(%s::jsonb[])",
                                 ([Jsonb({"i": sent + j}) for j in range(n)],))
                    sent += n
                start += secs
    except Exception as exc:  # reported to the parent
        error = f"{type(exc).__name__}: {exc}"
    out.put((sent, error))


def produce(dsn: str, phases: list, procs: int, t0: float) -> tuple[int, float]:
    """Run the phases [(rate, seconds), ...] from procs processes, starting at t0
    (time.monotonic()); (tasks sent, seconds the sending took: longer than the phases when
    the producers could not keep up)."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    ps = [ctx.Process(target=_producer, args=(dsn, phases, i, procs, t0, out), daemon=True)
          for i in range(procs)]
    for p in ps:
        p.start()
    results = [out.get(timeout=sum(s for _, s in phases) + 600) for _ in ps]
    took = time.monotonic() - t0
    for p in ps:
        p.join(timeout=30)
    errors = [e for _, e in results if e]
    if errors:
        raise RuntimeError(f"producer: {errors[0]}")
    return sum(n for n, _ in results), took


def _vacuum_watch(dsn: str, stop: threading.Event, seen: list, t_start) -> None:
    """Sample autovacuum/autoanalyze counts of tasklease.tasks every 0.5 s."""
    sql = ("SELECT autovacuum_count, autoanalyze_count, clock_timestamp()"
           " FROM pg_stat_user_tables WHERE relid = 'tasklease.tasks'::regclass")
    with psycopg.connect(dsn, autocommit=True) as conn:
        last = None
        while not stop.wait(0.5):
            conn.execute("SELECT pg_stat_clear_snapshot()")
            av, an, now = conn.execute(sql).fetchone()
            if last is not None and (av, an) != last:
                seen.append({"t_s": round((now - t_start).total_seconds(), 1),
                             "autovacuum": av > last[0], "autoanalyze": an > last[1]})
            last = (av, an)


PER_SECOND = """
WITH s AS (
    SELECT generate_series(0, ceil(extract(epoch FROM max(finished_at) - %(st)s))::int) AS s
    FROM tasklease.tasks
), l AS (
    SELECT created_at, finished_at,
        (result->>'started')::float8 - extract(epoch FROM created_at) AS pickup_s
    FROM tasklease.tasks
)
SELECT s.s,
    (SELECT count(*) FROM l WHERE l.finished_at >= %(st)s + make_interval(secs => s.s)
        AND l.finished_at < %(st)s + make_interval(secs => s.s + 1)),
    (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY l.pickup_s) FROM l
        WHERE l.created_at >= %(st)s + make_interval(secs => s.s)
        AND l.created_at < %(st)s + make_interval(secs => s.s + 1)),
    (SELECT count(*) FROM l WHERE l.created_at < %(st)s + make_interval(secs => s.s + 1)
        AND (l.finished_at IS NULL OR l.finished_at >= %(st)s + make_interval(secs => s.s + 1)))
FROM s ORDER BY 1
"""


def scenario(dsn: str, phases: list, concurrency: int, procs: int, log: Log) -> dict:
    """One worker at `concurrency`, producers running `phases`; per-phase and per-second."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.empty_tasklease(conn)
        workers = worker_e2e.start_workers(dsn, ["bench-rate"], concurrency, handler=HANDLER)
        stop, seen = threading.Event(), []
        try:
            worker_e2e.wait_registered(conn, ["bench-rate"], workers)
            # The schedule starts LEAD_S from now: on the database clock, at t_start.
            (t_start,) = conn.execute(
                "SELECT clock_timestamp() + make_interval(secs => %s)", (LEAD_S,)).fetchone()
            t0 = time.monotonic() + LEAD_S
            watch = threading.Thread(target=_vacuum_watch, args=(dsn, stop, seen, t_start),
                                     daemon=True)
            watch.start()
            sent, took = produce(dsn, phases, procs, t0)
            worker_e2e.wait_done(conn, sent, workers, timeout=300)
        finally:
            stop.set()
            worker_e2e.stop_workers(workers)
        rows = conn.execute(PER_SECOND, {"st": t_start}).fetchall()
        out_phases, t = [], 0
        for rate, secs in phases:
            lat = [r[0] for r in conn.execute(
                "SELECT (result->>'started')::float8 - extract(epoch FROM created_at)"
                " FROM tasklease.tasks WHERE created_at >= %s + make_interval(secs => %s)"
                " AND created_at < %s + make_interval(secs => %s)",
                (t_start, t, t_start, t + secs)).fetchall()]
            window = [r for r in rows if t <= r[0] < t + secs]
            out_phases.append({
                "rate": rate, "seconds": secs, "tasks": len(lat),
                "pickup_p50_ms": drain.percentile(lat, 50) * 1000,
                "pickup_p99_ms": drain.percentile(lat, 99) * 1000,
                "max_backlog": max((r[3] for r in window), default=0),
                "min_done_per_s": min((r[1] for r in window[1:]), default=0),
            })
            t += secs
        schema.empty_tasklease(conn)
    for p in out_phases:
        log(f"  {p['rate']}/s for {p['seconds']} s at concurrency {concurrency}: pickup p50"
            f" {p['pickup_p50_ms']:.1f} ms, p99 {p['pickup_p99_ms']:.1f} ms, max backlog"
            f" {p['max_backlog']}, slowest second {p['min_done_per_s']} done")
    planned = sum(s for _, s in phases)
    if took > planned * 1.1:
        log(f"  (the producers needed {took:.0f} s for {planned} s of load: the rates above"
            " were not reached)")
    return {"phases": out_phases, "vacuum": seen, "sent": sent, "produce_s": took,
            "planned_s": planned,
            "per_second": [{"s": r[0], "done": r[1],
                            "p99_ms": None if r[2] is None else round(r[2] * 1000, 1),
                            "backlog": r[3]} for r in rows]}


def saturation(dsn: str, jobs: int, concurrency: int) -> dict:
    """Drain `jobs` pre-filled tasks with one worker (sleep1ms, short lease); jobs/s on the
    database clock and the smallest lease margin seen at a renewal."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.empty_tasklease(conn)
        schema.create_floor(conn)
        conn.execute(MARGIN_DDL)
        conn.execute("SELECT count(*) FROM tasklease.enqueue_many("
                     "array_fill('{}'::jsonb, ARRAY[%s]))", (jobs,))
        schema.settle(conn, "tasklease.tasks")
        workers = worker_e2e.start_workers(
            dsn, ["bench-saturation"], concurrency, handler=HANDLER,
            extra=("--lease-s", str(MARGIN_LEASE_S)))
        try:
            worker_e2e.wait_registered(conn, ["bench-saturation"], workers)
            worker_e2e.wait_done(conn, jobs, workers, timeout=max(120.0, jobs / 20))
        finally:
            worker_e2e.stop_workers(workers)
            conn.execute(MARGIN_DROP)
        # The first task (lowest id) is claimed first and done before any renewal: its
        # last_heartbeat is the first claim's time.
        first, last = conn.execute(
            "SELECT (SELECT last_heartbeat FROM tasklease.tasks ORDER BY id LIMIT 1),"
            " max(finished_at) FROM tasklease.tasks").fetchone()
        margins = conn.execute(
            "SELECT count(*), min(margin_s) FROM bench_floor.lease_margins").fetchone()
        schema.empty_tasklease(conn)
    seconds = max((last - first).total_seconds(), 1e-6)
    return {"jobs": jobs, "jobs_per_s": jobs / seconds, "lease_s": MARGIN_LEASE_S,
            "renewals": margins[0], "min_margin_s": margins[1]}


def run_steady(dsn: str, cfg: Config, log: Log) -> dict:
    phases = [(cfg.steady_rate, cfg.steady_s)]
    runs = [scenario(dsn, phases, cfg.steady_concurrency, cfg.producer_procs, log)
            for _ in range(cfg.reps)]
    sat = [saturation(dsn, cfg.saturation_jobs, cfg.steady_concurrency) for _ in range(cfg.reps)]
    for s in sat:
        log(f"  saturation at concurrency {cfg.steady_concurrency}: {s['jobs_per_s']:.0f} jobs/s;"
            f" lease margin at renewal (lease {s['lease_s']} s): min {s['min_margin_s']} s over"
            f" {s['renewals']} renewals")
    return {
        "rate": cfg.steady_rate, "concurrency": cfg.steady_concurrency,
        "pickup_p50_ms": drain.median([r["phases"][0]["pickup_p50_ms"] for r in runs]),
        "pickup_p99_ms": drain.median([r["phases"][0]["pickup_p99_ms"] for r in runs]),
        "p99_runs": [round(r["phases"][0]["pickup_p99_ms"], 1) for r in runs],
        "saturation_jobs_per_s": drain.median([s["jobs_per_s"] for s in sat]),
        "saturation_runs": [round(s["jobs_per_s"], 1) for s in sat],
        "lease_s": MARGIN_LEASE_S,
        "min_lease_margin_s": min((s["min_margin_s"] for s in sat
                                   if s["min_margin_s"] is not None), default=None),
        "renewals": sum(s["renewals"] for s in sat),
    }


def run_burst(dsn: str, cfg: Config, log: Log) -> dict:
    r = scenario(dsn, list(cfg.burst_phases), cfg.burst_concurrency, cfg.producer_procs, log)
    log(f"  autovacuum/autoanalyze of tasklease.tasks during the burst: {r['vacuum'] or 'none'}")
    return {"concurrency": cfg.burst_concurrency, **r}

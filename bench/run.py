"""`make bench`: the tasklease benchmark.  See bench/README.md for what it measures.

    .venv/bin/python bench/run.py [--quick] [--only SECTION[,SECTION]] [--jobs N] [--soak N]

Starts its own throwaway cluster (durable settings: fsync on), migrates it, runs the
sections, prints a table with the ratios to the floor and PASS/MISS per target, and writes
bench/results.json and bench/throughput.png (+ bench/soak.png).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench import (
    cluster,
    enqueue,
    flow,
    history,
    hot,
    peer,
    profile,
    reaper,
    recovery,
    report,
    soak,
    steady,
    throughput,
    ui,
    worker_e2e,
)
from bench.config import SECTIONS, Config, make_config

BENCH_DIR = Path(__file__).resolve().parent
Log = Callable[[str], None]


def _print(msg: str) -> None:
    print(msg, flush=True)


def _section(results: dict, name: str, log: Log, fn: Callable[[], object]) -> None:
    log(f"== {name}")
    t0 = time.perf_counter()
    results[name] = fn()
    results["meta"]["section_seconds"][name] = round(time.perf_counter() - t0, 1)


def run_bench(dsn: str, cfg: Config, log: Log = _print) -> dict:
    """Run the sections cfg asks for against a migrated database (superuser DSN).

    It empties tasklease.tasks/workers/reaper_log and creates schema bench_floor: use a
    database of its own.  Returns the results dictionary (see README.md).
    """
    t_start = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        pgss = cluster.try_pg_stat_statements(conn)
        results: dict = {
            "meta": {
                "quick": cfg.quick,
                "config": {k: v for k, v in vars(cfg).items()},
                "machine": cluster.machine_info(conn),
                "started_at": conn.execute("SELECT now()").fetchone()[0].isoformat(),
                "pg_stat_statements": pgss,
                "section_seconds": {},
            }
        }
    if cfg.wants("floor") or cfg.wants("api"):
        _section(results, "throughput", log, lambda: throughput.run(dsn, cfg, log))
        results["latency"] = throughput.latency(results["throughput"], cfg.latency_concurrency)
    if cfg.wants("worker"):
        _section(results, "worker", log, lambda: worker_e2e.run(dsn, cfg, log))
        results["worker_async"] = results["worker"].pop("asyncio")
        results["worker"] = results["worker"].pop("threads")
    if cfg.wants("peer"):
        _section(results, "peer", log, lambda: peer.run(dsn, cfg, log))
    if cfg.wants("enqueue"):
        _section(results, "enqueue", log, lambda: enqueue.run(dsn, cfg, log))
    if cfg.wants("steady"):
        _section(results, "steady", log, lambda: steady.run_steady(dsn, cfg, log))
    if cfg.wants("burst"):
        _section(results, "burst", log, lambda: steady.run_burst(dsn, cfg, log))
    if cfg.wants("recovery"):
        _section(results, "recovery", log, lambda: recovery.run(dsn, cfg, log))
    if cfg.wants("history"):
        _section(results, "history", log, lambda: history.run(dsn, cfg, log))
    if cfg.wants("reaper"):
        _section(results, "reaper", log, lambda: reaper.run(dsn, cfg, log))
    if cfg.wants("hot"):
        _section(results, "hot", log, lambda: hot.run(dsn, cfg, log))
    if cfg.wants("soak"):
        _section(results, "soak", log, lambda: soak.run(dsn, cfg, log))
    if cfg.wants("ui"):
        _section(results, "ui", log, lambda: ui.run(dsn, cfg, log))
    if cfg.wants("flow"):
        _section(results, "flow", log, lambda: flow.run(dsn, cfg, log))
    if cfg.wants("profile"):
        _section(results, "profile", log, lambda: {
            "explain": profile.explain(dsn, cfg.jobs, cfg.batch),
            "inline": profile.inline(dsn, cfg, log),
            "statements": profile.statements_by_path(dsn, cfg, log) if pgss else None,
            "worker": profile.worker_profile(dsn, cfg, log) if pgss else None,
        })
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_floor CASCADE")
    results["targets"] = report.targets(results)
    results["meta"]["loadavg_end"] = list(os.getloadavg())
    results["meta"]["duration_s"] = time.perf_counter() - t_start
    return results


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny smoke run of the same code")
    p.add_argument("--only", metavar="SECTION",
                   help=f"comma-separated sections to run: {', '.join(SECTIONS)}")
    p.add_argument("--jobs", type=int, help="jobs per throughput measurement (default 20000)")
    p.add_argument("--soak", type=int, help="claim/complete cycles of the soak")
    p.add_argument("--dsn", help="use this migrated database instead of a throwaway cluster"
                   " (superuser; its tasklease tables are emptied)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a server setting for the throwaway cluster (ALTER SYSTEM), e.g."
                   " autovacuum_naptime=10s; repeatable; recorded in the results")
    p.add_argument("--out", type=Path, default=BENCH_DIR,
                   help="directory for results.json and the plots (default: bench/)")
    return p.parse_args(argv)


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    cfg = make_config(quick=args.quick, only=args.only, jobs=args.jobs, soak=args.soak)
    t0 = time.perf_counter()
    bench_cluster = None
    dsn = args.dsn
    try:
        if dsn is None:
            bench_cluster = cluster.BenchCluster()
            _print(f"bench: starting a throwaway cluster in {bench_cluster.dir} (fsync on)")
            dsn = bench_cluster.start(dict(kv.split("=", 1) for kv in args.set))
            from tasklease.migrate import migrate

            migrate(dsn, schedule=False)  # the reaper is timed explicitly, never by pg_cron
        results = run_bench(dsn, cfg)
        results["meta"]["extra_settings"] = dict(kv.split("=", 1) for kv in args.set)
    finally:
        if bench_cluster is not None:
            bench_cluster.stop()
    results["meta"]["total_s"] = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(results, args.out / "results.json")
    plots = report.plot(results, args.out)
    _print("")
    _print(report.render(results))
    _print(f"Wrote {args.out / 'results.json'}, " + ", ".join(str(p) for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sections 1, 2 and 6: the floor, the SQL API, and claim latency at 16 connections.

Repetitions are the outer loop and the paths the inner one, so that a burst of load from
elsewhere on the machine hits every path alike and the ratios stay fair.
"""

from __future__ import annotations

from typing import Callable

import psycopg

from . import drain, schema
from .config import Config

Log = Callable[[str], None]


def load(conn: psycopg.Connection, path: drain.QueuePath, jobs: int) -> None:
    if path.table == "floor":
        schema.load_floor(conn, jobs)
    else:
        schema.load_tasks(conn, jobs)


def summarise(runs: list) -> dict:
    return {
        "runs": [round(r["jobs_per_s"], 1) for r in runs],
        "jobs_per_s": drain.median([r["jobs_per_s"] for r in runs]),
        "claim_p50_ms": drain.median([r["claim_p50_ms"] for r in runs]),
        "claim_p99_ms": drain.median([r["claim_p99_ms"] for r in runs]),
    }


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{path name: {concurrency: {runs, jobs_per_s (median), claim_p50_ms, claim_p99_ms}}}."""
    wanted = [
        p
        for p in drain.paths(cfg.batch).values()
        if cfg.wants("floor" if p.table == "floor" else "api")
    ]
    raw: dict = {p.name: {c: [] for c in cfg.concurrencies} for p in wanted}
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.create_floor(conn)
        for rep in range(cfg.reps):
            for procs in cfg.concurrencies:
                for path in wanted:
                    load(conn, path, cfg.jobs)
                    r = drain.drain(dsn, path, procs, tag=f"-r{rep}")
                    if r["jobs"] != cfg.jobs:
                        raise RuntimeError(f"{path.name} x{procs}: {r['jobs']} of {cfg.jobs} done")
                    raw[path.name][procs].append(r)
                    log(
                        f"  run {rep + 1}/{cfg.reps} {path.name:<13} x{procs:<2}"
                        f" {r['jobs_per_s']:9.0f} jobs/s  claim p50 {r['claim_p50_ms']:.2f} ms"
                        f" p99 {r['claim_p99_ms']:.2f} ms"
                    )
        schema.empty_tasklease(conn)
        conn.execute("TRUNCATE bench_floor.jobs")
    return {
        name: {str(c): summarise(runs) for c, runs in by_c.items()} for name, by_c in raw.items()
    }


def latency(throughput: dict, concurrency: int) -> dict:
    """Claim latency percentiles at the given concurrency, per path (section 6)."""
    out = {}
    for name, by_c in throughput.items():
        m = by_c.get(str(concurrency))
        if m:
            out[name] = {
                "concurrency": concurrency,
                "claim_p50_ms": m["claim_p50_ms"],
                "claim_p99_ms": m["claim_p99_ms"],
            }
    return out

"""Section 4: reaper time with few and with many finished tasks beside one running set.

The running set is the same at every size: reaper_running running tasks of 20 live owners
(fresh heartbeats), of which reaper_stale, spread evenly over the set, have a lease that
expired a minute ago.  As in a real queue the running tasks are the newest: the finished
tasks are added first (10k, then up to 1M) and the running set is re-created after them at
each size, so a scan in id order would have to pass every finished task.  The real run
happens inside a transaction that is rolled back, so every repetition finds the same stale
set.
"""

from __future__ import annotations

import time
from typing import Callable

import psycopg

from . import drain, schema
from .config import Config

Log = Callable[[str], None]
OWNERS = 20


def _setup_owners(conn: psycopg.Connection) -> None:
    schema.empty_tasklease(conn)
    conn.execute(
        "INSERT INTO tasklease.workers (owner_id, incarnation, last_heartbeat)"
        " SELECT 'bench-reaper-' || g, 'i1', now() FROM generate_series(0, %s - 1) AS g",
        (OWNERS,),
    )


def _recreate_running(conn: psycopg.Connection, running: int, stale: int) -> None:
    """The running set, with ids after every finished task; every (running/stale)-th is stale."""
    conn.execute("DELETE FROM tasklease.tasks WHERE status = 'running'")
    conn.execute(
        """
        INSERT INTO tasklease.tasks
            (payload, status, attempts, owner_id, lease_token, lease_expires_at, last_heartbeat)
        SELECT jsonb_build_object('n', g), 'running', 1, 'bench-reaper-' || (g %% %s),
            nextval('tasklease.lease_token_seq'),
            CASE WHEN g %% %s = 0 THEN now() - interval '60 seconds'
                ELSE now() + interval '600 seconds' END,
            now()
        FROM generate_series(1, %s) AS g
        """,
        (OWNERS, max(1, running // stale), running),
    )


def _add_finished(conn: psycopg.Connection, n: int) -> None:
    if n <= 0:
        return
    conn.execute(
        """
        INSERT INTO tasklease.tasks
            (payload, status, attempts, owner_id, lease_token, last_heartbeat, result,
             finished_at)
        SELECT jsonb_build_object('n', g), 'completed', 1, 'bench-reaper-' || (g %% 20),
            g, now(), '{"ok": true}'::jsonb, now()
        FROM generate_series(1, %s) AS g
        """,
        (n,),
    )


def _time(conn: psycopg.Connection, sql: str, batch: int, repeats: int, rollback: bool) -> dict:
    times, counts = [], []
    for _ in range(repeats):
        conn.execute("BEGIN")
        t0 = time.perf_counter()
        (n,) = conn.execute(sql, (batch,)).fetchone()
        times.append(time.perf_counter() - t0)
        conn.execute("ROLLBACK" if rollback else "COMMIT")
        counts.append(n)
    return {"ms": drain.median(times) * 1000, "runs_ms": [t * 1000 for t in times],
            "acted_on": counts}


DRY = "SELECT count(*) FROM tasklease.reap_stale_tasks(%s, true)"
REAL = "SELECT count(*) FROM tasklease.reap_stale_tasks(%s)"


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{finished count: {dry_run: {ms, runs_ms, acted_on}, real: {...}, table_mb}}."""
    out = {}
    batch = cfg.reaper_stale
    with psycopg.connect(dsn, autocommit=True) as conn:
        _setup_owners(conn)
        have = 0
        for finished in sorted(cfg.reaper_finished):
            _add_finished(conn, finished - have)
            have = finished
            _recreate_running(conn, cfg.reaper_running, cfg.reaper_stale)
            schema.settle(conn, "tasklease.tasks")
            dry = _time(conn, DRY, batch, cfg.reaper_repeats, rollback=True)
            real = _time(conn, REAL, batch, cfg.reaper_repeats, rollback=True)
            for what, r in (("dry_run", dry), ("real", real)):
                if any(n != cfg.reaper_stale for n in r["acted_on"]):
                    raise RuntimeError(f"reaper {what} at {finished}: acted on {r['acted_on']}")
            mb = conn.execute(
                "SELECT pg_total_relation_size('tasklease.tasks') / 1048576.0"
            ).fetchone()[0]
            out[str(finished)] = {"dry_run": dry, "real": real, "table_mb": float(mb)}
            log(
                f"  {finished:>9} finished + {cfg.reaper_running} running ({cfg.reaper_stale}"
                f" stale): dry run {dry['ms']:.2f} ms, real run {real['ms']:.2f} ms"
                f" (table {float(mb):.0f} MB)"
            )
        schema.empty_tasklease(conn)
    return out

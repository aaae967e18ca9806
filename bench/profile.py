"""Profiling aids: where the SQL API spends its time compared with the floor.

  statements  pg_stat_statements over one drain of each path at one connection, on
              connections with track = all (statements inside the functions count too):
              calls, total and mean execution time (when the server preloads the library)
  explain     EXPLAIN (ANALYZE, BUFFERS) of the hot statements of claim_tasks, complete_task
              and renew_lease, run by hand from the function bodies on a loaded table
  inline      the same statements as claim_tasks / complete_task(s), sent as plain SQL on
              tasklease.tasks: the gap between inline and api is the cost of the function
              layer (plpgsql, validation helpers, SECURITY DEFINER + SET search_path), the
              gap between floor and inline the cost of the table and its indexes
"""

from __future__ import annotations

import time
from typing import Callable

import psycopg
from psycopg.conninfo import make_conninfo

from . import drain, schema, throughput
from .config import Config

Log = Callable[[str], None]

INLINE_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT t.id FROM tasklease.tasks AS t
    WHERE t.status = 'queued' AND t.run_after <= now()
    ORDER BY t.priority, t.run_after, t.id
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE tasklease.tasks AS t SET
        status = 'running', owner_id = %(owner)s,
        lease_token = nextval('tasklease.lease_token_seq'),
        lease_expires_at = now() + interval '600 seconds', last_heartbeat = now(),
        attempts = t.attempts + 1, updated_at = now()
    FROM picked WHERE t.id = picked.id
    RETURNING t.id, t.queue, t.payload, t.attempts, t.lease_token, t.lease_expires_at,
        t.priority, t.run_after
)
SELECT c.id, c.lease_token, c.payload FROM claimed AS c ORDER BY c.priority, c.run_after, c.id
"""

INLINE_COMPLETE = """
UPDATE tasklease.tasks AS t SET
    status = 'completed', result = NULL, lease_expires_at = NULL,
    finished_at = now(), updated_at = now()
WHERE t.id = %s AND t.status = 'running' AND t.owner_id = %s AND t.lease_token = %s
"""

INLINE_COMPLETE_MANY = """
UPDATE tasklease.tasks AS t SET
    status = 'completed', result = NULL, lease_expires_at = NULL,
    finished_at = now(), updated_at = now()
FROM unnest(%s::bigint[], %s::bigint[]) AS c (id, token)
WHERE t.id = c.id AND t.status = 'running' AND t.owner_id = %s AND t.lease_token = c.token
"""

RENEW = """
UPDATE tasklease.tasks AS t SET
    lease_expires_at = now() + interval '600 seconds', last_heartbeat = now(),
    updated_at = now()
WHERE t.id = %s AND t.status = 'running' AND t.owner_id = %s AND t.lease_token = %s
"""


def _inline_complete(conn: psycopg.Connection, owner: str, rows: list) -> int:
    if len(rows) == 1:
        return conn.execute(INLINE_COMPLETE, (rows[0][0], owner, rows[0][1])).rowcount
    ids, tokens = [r[0] for r in rows], [r[1] for r in rows]
    return conn.execute(INLINE_COMPLETE_MANY, (ids, tokens, owner)).rowcount


def inline_paths(batch: int) -> dict:
    return {
        "inline_single": drain.QueuePath("inline_single", "tasklease", 1, INLINE_CLAIM,
                                         _inline_complete),
        "inline_batch": drain.QueuePath("inline_batch", "tasklease", batch, INLINE_CLAIM,
                                        _inline_complete),
    }


def statements(conn: psycopg.Connection, limit: int = 25) -> list:
    rows = conn.execute(
        """
        SELECT calls, total_exec_time, mean_exec_time, rows,
            left(regexp_replace(query, '\\s+', ' ', 'g'), 160)
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query NOT ILIKE '%%pg_stat_statements%%'
        ORDER BY total_exec_time DESC LIMIT %s
        """,
        (limit,),
    ).fetchall()
    return [
        {"calls": c, "total_ms": round(t, 1), "mean_ms": round(m, 4), "rows": r, "query": q}
        for c, t, m, r, q in rows
    ]


def statements_by_path(dsn: str, cfg: Config, log: Log) -> dict:
    """{path: top statements} for one drain of each path at one connection."""
    tracked = make_conninfo(dsn, options="-c pg_stat_statements.track=all")
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.create_floor(conn)
        for path in drain.paths(cfg.batch).values():
            throughput.load(conn, path, min(cfg.jobs, 5_000))
            conn.execute("SELECT pg_stat_statements_reset()")
            r = drain.drain(tracked, path, 1, tag="-pgss")
            out[path.name] = statements(conn, limit=12)
            log(f"  pg_stat_statements over {path.name} x1 ({r['jobs_per_s']:.0f} jobs/s):"
                f" top {out[path.name][0]['query'][:60] if out[path.name] else '-'}")
        schema.empty_tasklease(conn)
        conn.execute("TRUNCATE bench_floor.jobs")
    return out


def _explain(conn: psycopg.Connection, sql: str, params) -> str:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
    return "\n".join(r[0] for r in rows)


def explain(dsn: str, jobs: int, batch: int) -> dict:
    """Plans of the hot statements on a table of `jobs` queued tasks (rolled back)."""
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.load_tasks(conn, jobs)
        with conn.transaction(force_rollback=True):
            for n in (1, batch):
                out[f"claim (LIMIT {n})"] = _explain(conn, INLINE_CLAIM,
                                                      {"owner": "bench-explain", "n": n})
            task_id, token = conn.execute(
                "SELECT id, lease_token FROM tasklease.tasks WHERE status = 'running' LIMIT 1"
            ).fetchone()
            out["renew_lease"] = _explain(conn, RENEW, (task_id, "bench-explain", token))
            out["complete_task"] = _explain(conn, INLINE_COMPLETE,
                                            (task_id, "bench-explain", token))
        schema.empty_tasklease(conn)
    return out


def inline(dsn: str, cfg: Config, log: Log) -> dict:
    """The function bodies as plain SQL, at the lowest and highest concurrency."""
    cs = sorted({min(cfg.concurrencies), max(cfg.concurrencies)})
    raw: dict = {name: {c: [] for c in cs} for name in inline_paths(cfg.batch)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for rep in range(cfg.reps):
            for c in cs:
                for name, path in inline_paths(cfg.batch).items():
                    schema.load_tasks(conn, cfg.jobs)
                    r = drain.drain(dsn, path, c, tag=f"-r{rep}")
                    raw[name][c].append(r)
                    log(f"  run {rep + 1}/{cfg.reps} {name:<13} x{c:<2}"
                        f" {r['jobs_per_s']:9.0f} jobs/s")
        schema.empty_tasklease(conn)
    return {n: {str(c): throughput.summarise(rs) for c, rs in by_c.items()}
            for n, by_c in raw.items()}


# ---------------------------------------------------------------- the worker, sampled

WORKER_SHAPES = ((1, 1), (1, 8))  # (processes, concurrency) profiled
TRACK_ALL = "-c pg_stat_statements.track=all"  # the sampled worker's statements count
CATEGORIES = (  # (name, test on "file:function" of the innermost frame), first match wins
    ("waiting for the database", lambda f: "psycopg" in f and any(
        w in f for w in ("wait", "select", "poll", "_fetch", "execute"))),
    ("psycopg (Python side)", lambda f: "psycopg" in f),
    ("thread hand-offs and locks", lambda f: "threading.py" in f or "queue.py" in f),
    ("logging", lambda f: "logging" in f),
    ("json and outcomes", lambda f: "json" in f or "outcomes.py" in f),
    ("tasklease worker code", lambda f: "tasklease" in f),
    ("handler", lambda f: "noop.py" in f),
)


def _category(leaf: str) -> str:
    return next((name for name, test in CATEGORIES if test(leaf)), "other")


def summarize_pyspy(raw: str) -> dict:
    """{category: share of the samples} of py-spy's raw (collapsed stacks) output."""
    counts: dict = {}
    total = 0
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        leaf = frames[-1] if frames else "?"
        counts[_category(leaf)] = counts.get(_category(leaf), 0) + int(n)
        total += int(n)
    return {k: v / total for k, v in sorted(counts.items(), key=lambda kv: -kv[1])} if total else {}


def worker_profile(dsn: str, cfg: Config, log: Log) -> dict:
    """py-spy (from the peers' environment) on one worker process draining no-op tasks, and
    the server's statements over the same window: CPU samples of the worker by category,
    and the server's execution time per statement call."""
    import subprocess
    import tempfile

    from . import peer, worker_e2e

    py = peer.ensure_env(log)
    spy = py.parent / "py-spy" if py else None
    if spy is None or not spy.exists():
        return {}
    out = {}
    seconds = 2 if cfg.quick else 8
    for procs, threads in WORKER_SHAPES:
        label = worker_e2e.label((procs, threads))
        with psycopg.connect(dsn, autocommit=True) as conn:
            schema.load_tasks(conn, 200 if cfg.quick else 100_000)
            workers = worker_e2e.start_workers(dsn, [f"bench-prof-{label}"], threads,
                                               env_extra={"PGOPTIONS": TRACK_ALL})
            try:
                worker_e2e.wait_registered(conn, [f"bench-prof-{label}"], workers)
                time.sleep(0.5)
                conn.execute("SELECT pg_stat_statements_reset()")
                (done0,) = conn.execute("SELECT count(*) FROM tasklease.tasks"
                                        " WHERE status = 'completed'").fetchone()
                with tempfile.NamedTemporaryFile("r", suffix=".txt") as f:
                    subprocess.run([str(spy), "record", "--nonblocking", "-r", "200", "-d",
                                    str(seconds), "-p", str(workers[0].pid), "--format", "raw",
                                    "-o", f.name], capture_output=True, timeout=seconds + 60)
                    raw = f.read()
                (done1,) = conn.execute("SELECT count(*) FROM tasklease.tasks"
                                        " WHERE status = 'completed'").fetchone()
                stmts = statements(conn, limit=6)
            finally:
                worker_e2e.stop_workers(workers)
            schema.empty_tasklease(conn)
        jobs = max(done1 - done0, 1)
        samples = sum(int(line.rpartition(" ")[2]) for line in raw.splitlines()
                      if line.rpartition(" ")[2].isdigit())
        out[label] = {"jobs_per_s": jobs / seconds, "thread_us_per_job": samples / 200 / jobs * 1e6,
                      "shares": summarize_pyspy(raw), "statements": stmts}
        log(f"  worker {label}: {jobs / seconds:.0f} jobs/s while sampled; sampled thread time"
            f" {out[label]['thread_us_per_job']:.0f} us per job: "
            + ", ".join(f"{k} {v:.0%}" for k, v in list(out[label]["shares"].items())[:4]))
    return out

"""Section flow: what flow control costs, next to the same work without it.

Claims (a queue named in every claim, drained with claim + complete as in section 2):
  queue_single, queue_batch      claim_task(owner, 'flow') / claim_tasks(owner, 10, 'flow'):
                                 no queue is controlled, so the plain claim path runs
  limited_single, limited_batch  the same with set_queue('flow', max_running => 1,000,000),
                                 a limit that never binds: the limited path's own cost
                                 (the queue row's lock, the running count)
  capped_single                  max_running 4: claims serialised on the queue and capped,
                                 the throughput of a queue actually held to 4 at a time
  mixed_single                   claim_task(owner) of every queue while another queue is
                                 paused with a backlog of 10,000 tasks that sort first: the
                                 cost a claim of every queue pays once any queue is controlled
Enqueues (each process calls the function in a loop, autocommit):
  enqueue, enqueue_key           enqueue() without a key, and with a fresh key per call
  enqueue_dup                    enqueue() with one key that a queued task holds: the look-up
                                 that returns the holder, no write
  many, many_keys                enqueue_many() of 100 payloads per call, without and with
                                 100 fresh keys (rate per task)
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Callable

import psycopg

from . import drain, schema
from .config import Config

Log = Callable[[str], None]
QUEUE = "flow"
BATCH = 10
MANY = 100


def _claim_path(name: str, sql: str, batch: int) -> drain.QueuePath:
    complete = drain._api_complete_one if batch == 1 else drain._api_complete_many
    return drain.QueuePath(name, "tasklease", batch, sql, complete)


SINGLE = f"SELECT id, lease_token, payload FROM tasklease.claim_task(%(owner)s, '{QUEUE}')"
MANY_SQL = ("SELECT id, lease_token, payload "
            f"FROM tasklease.claim_tasks(%(owner)s, %(n)s, '{QUEUE}')")
ANY_SINGLE = "SELECT id, lease_token, payload FROM tasklease.claim_task(%(owner)s)"

# name -> (path, set_queue calls made before the drain)
CLAIM_PATHS: dict[str, tuple[drain.QueuePath, list[str]]] = {
    "queue_single": (_claim_path("queue_single", SINGLE, 1), []),
    "limited_single": (_claim_path("limited_single", SINGLE, 1),
                       [f"SELECT tasklease.set_queue('{QUEUE}', max_running => 1000000)"]),
    "capped_single": (_claim_path("capped_single", SINGLE, 1),
                      [f"SELECT tasklease.set_queue('{QUEUE}', max_running => 4)"]),
    "mixed_single": (_claim_path("mixed_single", ANY_SINGLE, 1),
                     ["INSERT INTO tasklease.tasks (queue, payload, priority) "
                      "SELECT 'elsewhere', '{}', -1 FROM generate_series(1, 10000)",
                      "ANALYZE tasklease.tasks",
                      "SELECT tasklease.set_queue('elsewhere', paused => true)"]),
    "queue_batch": (_claim_path("queue_batch", MANY_SQL, BATCH), []),
    "limited_batch": (_claim_path("limited_batch", MANY_SQL, BATCH),
                      [f"SELECT tasklease.set_queue('{QUEUE}', max_running => 1000000)"]),
}
# What each is compared with in the report: the same claim without flow control.
BASELINE = {"limited_single": "queue_single", "capped_single": "queue_single",
            "mixed_single": "queue_single", "limited_batch": "queue_batch"}

ENQUEUE_PATHS: dict[str, tuple[str, int]] = {  # name -> (statement, tasks per call)
    "enqueue": (f"SELECT tasklease.enqueue('{{}}', '{QUEUE}')", 1),
    "enqueue_key": (f"SELECT tasklease.enqueue('{{}}', '{QUEUE}', dedupe_key => %(key)s)", 1),
    "enqueue_dup": (f"SELECT tasklease.enqueue('{{}}', '{QUEUE}', dedupe_key => 'dup')", 1),
    "many": (f"SELECT count(*) FROM tasklease.enqueue_many("
             f"array_fill('{{}}'::jsonb, ARRAY[{MANY}]), '{QUEUE}')", MANY),
    "many_keys": (f"SELECT count(*) FROM tasklease.enqueue_many("
                  f"array_fill('{{}}'::jsonb, ARRAY[{MANY}]), '{QUEUE}', dedupe_keys => "
                  f"ARRAY(SELECT %(key)s || ':' || g FROM generate_series(1, {MANY}) AS g))",
                  MANY),
}
ENQUEUE_BASELINE = {"enqueue_key": "enqueue", "enqueue_dup": "enqueue", "many_keys": "many"}


def _reset(conn: psycopg.Connection) -> None:
    conn.execute("DELETE FROM tasklease.queue_settings")


def _claims(dsn: str, cfg: Config, log: Log) -> dict:
    raw: dict = {name: {c: [] for c in cfg.flow_concurrencies} for name in CLAIM_PATHS}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for rep in range(cfg.reps):
            for procs in cfg.flow_concurrencies:
                for name, (path, setup) in CLAIM_PATHS.items():
                    schema.load_tasks(conn, cfg.flow_jobs, QUEUE)
                    _reset(conn)
                    for statement in setup:
                        conn.execute(statement)
                    try:
                        r = drain.drain(dsn, path, procs, tag=f"-r{rep}")
                    finally:
                        _reset(conn)
                    if r["jobs"] != cfg.flow_jobs:
                        raise RuntimeError(f"{name} x{procs}: {r['jobs']} of {cfg.flow_jobs}")
                    raw[name][procs].append(r)
                    log(f"  run {rep + 1}/{cfg.reps} {name:<15} x{procs:<2}"
                        f" {r['jobs_per_s']:9.0f} jobs/s  claim p50 {r['claim_p50_ms']:.2f} ms")
        schema.empty_tasklease(conn)
    return {name: {str(c): {"runs": [round(r["jobs_per_s"], 1) for r in runs],
                            "jobs_per_s": drain.median([r["jobs_per_s"] for r in runs]),
                            "claim_p50_ms": drain.median([r["claim_p50_ms"] for r in runs])}
                   for c, runs in by_c.items()}
            for name, by_c in raw.items()}


def _producer(dsn, sql, calls, tag, barrier, go, out) -> None:
    result = {"end": None, "error": None}
    try:
        with psycopg.connect(dsn, autocommit=True, application_name=f"bench:{tag}") as conn:
            params = [{"key": f"{tag}-{i}"} for i in range(calls)]
            barrier.wait(timeout=120)
            go.wait(timeout=120)
            for p in params:
                conn.execute(sql, p if "%(key)s" in sql else None).fetchall()
            result["end"] = time.perf_counter()
    except Exception as exc:  # reported to the parent, which raises
        result["error"] = f"{type(exc).__name__}: {exc}"
    out.put(result)


def _enqueue_run(dsn: str, name: str, procs: int, calls: int, tag: str) -> float:
    """Tasks per second of procs processes each calling the statement `calls` times."""
    sql, per_call = ENQUEUE_PATHS[name]
    ctx = mp.get_context("fork")
    barrier, go, out = ctx.Barrier(procs + 1), ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_producer, daemon=True,
                           args=(dsn, sql, calls, f"{name}{tag}-{i}", barrier, go, out))
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
        raise RuntimeError(f"{name} x{procs}: {errors[0]}")
    return procs * calls * per_call / (max(r["end"] for r in results) - start)


def _enqueues(dsn: str, cfg: Config, log: Log) -> dict:
    raw: dict = {name: {c: [] for c in cfg.flow_concurrencies} for name in ENQUEUE_PATHS}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for rep in range(cfg.reps):
            for procs in cfg.flow_concurrencies:
                for name, (_, per_call) in ENQUEUE_PATHS.items():
                    schema.empty_tasklease(conn)
                    schema.settle(conn, "tasklease.tasks")
                    if name == "enqueue_dup":
                        conn.execute(f"SELECT tasklease.enqueue('{{}}', '{QUEUE}', "
                                     "dedupe_key => 'dup')")
                    calls = max(1, cfg.flow_enqueues // per_call)
                    rate = _enqueue_run(dsn, name, procs, calls, f"-r{rep}")
                    raw[name][procs].append(rate)
                    log(f"  run {rep + 1}/{cfg.reps} {name:<15} x{procs:<2} {rate:9.0f} tasks/s")
        schema.empty_tasklease(conn)
    return {name: {str(c): {"runs": [round(x, 1) for x in rates],
                            "per_s": drain.median(rates)}
                   for c, rates in by_c.items()}
            for name, by_c in raw.items()}


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{"claim": {path: {concurrency: {runs, jobs_per_s, claim_p50_ms}}},
    "enqueue": {path: {concurrency: {runs, per_s}}}} (medians of cfg.reps runs)."""
    return {"claim": _claims(dsn, cfg, log), "enqueue": _enqueues(dsn, cfg, log)}

"""Section 3: the Python workers end to end, with a no-op handler: the threaded Worker and
the AsyncWorker, in the same run.

Each shape is processes x concurrency (4 x 1, 4 x 4, 4 x 8 by default: the issue's user who
starts a few workers), each process a `tasklease worker bench.noop:handle` (threads) or
`tasklease worker bench.noop:ahandle` (asyncio: handler tasks on one loop) started from the
command line with its defaults (lease, renewal and heartbeat rates, LISTEN/NOTIFY and
polling).  When every worker has registered, `jobs` tasks are enqueued in one enqueue_many
call (one NOTIFY); the time runs on the database clock from the commit of that call to the
last finished_at.  The workers are then stopped with SIGTERM and must exit 0.
Each repetition runs every shape with both flavours, one after the other, so load from
elsewhere hits both alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

import psycopg
from psycopg.types.json import Jsonb

from . import drain, schema
from .cluster import REPO_ROOT
from .config import Config

Log = Callable[[str], None]


def label(shape: tuple) -> str:
    """"4x8": processes x concurrency, the key of a shape in the results."""
    return f"{shape[0]}x{shape[1]}"


HANDLERS = {"threads": "bench.noop:handle", "asyncio": "bench.noop:ahandle"}


def start_workers(dsn: str, names: list, threads: int, handler: str = "bench.noop:handle",
                  extra: tuple = (), env_extra: Optional[dict] = None) -> list:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(env_extra or {})
    procs = []
    for name in names:
        # a file, not a pipe (a full pipe would block the worker); closed by run_once
        log_file = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        p = subprocess.Popen(
            [sys.executable, "-m", "tasklease", "worker", handler,
             "--dsn", dsn, "--concurrency", str(threads), "--name", name,
             "--log-level", "warning", *extra],
            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )
        p.log_file = log_file  # type: ignore[attr-defined]
        procs.append(p)
    return procs


def stderr_of(p: subprocess.Popen) -> str:
    """The last lines a worker wrote to its stderr file."""
    f = p.log_file  # type: ignore[attr-defined]
    f.seek(0)
    return f.read().strip()[-2000:]


def wait_registered(conn: psycopg.Connection, names: list, procs: list, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        (n,) = conn.execute(
            "SELECT count(*) FROM tasklease.workers WHERE owner_id = ANY(%s)"
            " AND stopped_at IS NULL",
            (names,),
        ).fetchone()
        if n == len(names):
            return
        dead = [p for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            err = stderr_of(dead[0]) if dead else "timeout"
            raise RuntimeError(f"workers did not start: {err}")
        time.sleep(0.1)


def stop_workers(procs: list, timeout: float = 60.0) -> list:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes


def wait_done(conn: psycopg.Connection, jobs: int, procs: list, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        done, last = conn.execute(
            "SELECT count(*), max(finished_at) FROM tasklease.tasks WHERE status = 'completed'"
        ).fetchone()
        if done >= jobs:
            return last
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError(f"workers finished {done} of {jobs} tasks")
        time.sleep(0.05)


def run_once(dsn: str, shape: tuple, jobs: int, tag: str, flavour: str = "threads") -> dict:
    procs_n, threads = shape
    names = [f"bench-e2e-{tag}-{i}" for i in range(procs_n)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.empty_tasklease(conn)
        procs = start_workers(dsn, names, threads, HANDLERS[flavour])
        try:
            wait_registered(conn, names, procs)
            payloads = [Jsonb({"n": i}) for i in range(jobs)]
            conn.execute(
                "SELECT count(*) FROM tasklease.enqueue_many(%s::jsonb[])", (payloads,)
            )
            (start,) = conn.execute("SELECT clock_timestamp()").fetchone()
            last = wait_done(conn, jobs, procs, timeout=max(120.0, jobs / 20))
        finally:
            codes = stop_workers(procs)
        errs = [stderr_of(p) for p in procs]
        for p in procs:
            p.log_file.close()  # type: ignore[attr-defined]
        if any(c != 0 for c in codes):
            raise RuntimeError(f"workers exited {codes}: {errs}")
        other = conn.execute(
            "SELECT count(*) FROM tasklease.tasks WHERE status <> 'completed'"
        ).fetchone()[0]
        schema.empty_tasklease(conn)
    seconds = max((last - start).total_seconds(), 1e-6)
    return {"jobs": jobs, "seconds": seconds, "jobs_per_s": jobs / seconds,
            "not_completed": other, "processes": procs_n, "threads": threads}


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{flavour: {"PxC": {runs, jobs_per_s (median), processes, threads}}} for flavour
    threads and asyncio."""
    raw: dict = {f: {label(s): [] for s in cfg.worker_shapes} for f in HANDLERS}
    for rep in range(cfg.reps):
        for shape in cfg.worker_shapes:
            for flavour in HANDLERS:
                r = run_once(dsn, shape, cfg.jobs, tag=f"r{rep}-{label(shape)}-{flavour[0]}",
                             flavour=flavour)
                raw[flavour][label(shape)].append(r)
                log(f"  run {rep + 1}/{cfg.reps} worker {label(shape):<5} {flavour:<7}"
                    f" ({r['processes']} proc x {r['threads']}) {r['jobs_per_s']:9.0f} jobs/s")
    return {
        flavour: {
            c: {
                "runs": [round(r["jobs_per_s"], 1) for r in runs],
                "jobs_per_s": drain.median([r["jobs_per_s"] for r in runs]),
                "processes": runs[0]["processes"],
                "threads": runs[0]["threads"],
            }
            for c, runs in by_c.items()
        }
        for flavour, by_c in raw.items()
    }

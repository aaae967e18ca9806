"""Section recovery: how long a task waits after its worker is killed with SIGKILL.

Two workers, each `tasklease worker bench.noop:hold --concurrency 1 --heartbeat-s 1`, with
worker_ttl_s lowered to `RECOVERY_TTL_S` for the run (restored after) and no pg_cron reaper
(the bench never schedules it): only live workers run the reaper here (reap_if_due).  A
task that holds its handler for a minute is claimed by worker A; then B starts; A is killed
with SIGKILL; the clock (database's) runs from just after the kill to

  requeued   the reaper's decision (reaper_log.at; its actor says who decided)
  running    B's claim of the task (its last_heartbeat as set by the claim)

The bound to compare with: worker_ttl_s + 1.4 reap_interval_s (with one live worker the
reaper's runs are at most that far apart: python/tasklease/worker/reaper.py) + the requeue
backoff (requeue_backoff_s x 0.75..1.25 for a first crash), plus a heartbeat interval.
"""

from __future__ import annotations

import signal
import time
from typing import Callable

import psycopg
from psycopg.types.json import Jsonb
from tasklease.worker.reaper import RUNS_APART

from . import drain, schema, worker_e2e
from .config import Config

Log = Callable[[str], None]
RECOVERY_TTL_S = 10
EXTRA = ("--heartbeat-s", "1")


def _running_owner(conn: psycopg.Connection, task_id: int):
    return conn.execute(
        "SELECT owner_id, last_heartbeat FROM tasklease.tasks WHERE id = %s"
        " AND status = 'running'", (task_id,)).fetchone()


def _wait(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"recovery: timed out waiting for {what}")
        time.sleep(0.05)


def once(dsn: str, tag: str) -> dict:
    a, b = f"bench-rec-{tag}-a", f"bench-rec-{tag}-b"
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.empty_tasklease(conn)
        (task_id,) = conn.execute("SELECT tasklease.enqueue(%s)",
                                  (Jsonb({"hold_s": 120}),)).fetchone()
        pa = worker_e2e.start_workers(dsn, [a], 1, handler="bench.noop:hold", extra=EXTRA)
        pb: list = []
        try:
            _wait(lambda: (_running_owner(conn, task_id) or (None,))[0] == a, 60,
                  "worker A to run the task")
            pb = worker_e2e.start_workers(dsn, [b], 1, handler="bench.noop:hold", extra=EXTRA)
            worker_e2e.wait_registered(conn, [b], pb)
            pa[0].send_signal(signal.SIGKILL)
            pa[0].wait()
            (killed,) = conn.execute("SELECT clock_timestamp()").fetchone()
            owner, claimed = _wait(
                lambda: (_running_owner(conn, task_id) or (None,))[0] == b
                and _running_owner(conn, task_id), 300, "worker B to run the task")
            decided, actor, reason = conn.execute(
                "SELECT at, actor, reason FROM tasklease.reaper_log WHERE task_id = %s"
                " ORDER BY id LIMIT 1", (task_id,)).fetchone()
        finally:
            worker_e2e.stop_workers(pb + pa, timeout=10)
        schema.empty_tasklease(conn)
    return {"requeued_s": (decided - killed).total_seconds(),
            "running_s": (claimed - killed).total_seconds(), "actor": actor, "reason": reason,
            "claimed_by": owner}


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{runs: [...], requeued_s / running_s (median, max), settings}."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        settings = dict(conn.execute(
            "SELECT name, value FROM tasklease.settings WHERE name IN"
            " ('worker_ttl_s', 'reap_interval_s', 'requeue_backoff_s')").fetchall())
        conn.execute("SELECT tasklease.set_setting('worker_ttl_s', %s)", (RECOVERY_TTL_S,))
        try:
            runs = []
            for i in range(cfg.recovery_runs):
                r = once(dsn, f"r{i}")
                runs.append(r)
                log(f"  run {i + 1}/{cfg.recovery_runs}: requeued {r['requeued_s']:.1f} s after"
                    f" the kill ({r['reason']}, by {r['actor']}), running again at"
                    f" {r['running_s']:.1f} s")
        finally:
            conn.execute("SELECT tasklease.set_setting('worker_ttl_s', %s)",
                         (settings["worker_ttl_s"],))
    used = {**settings, "worker_ttl_s": RECOVERY_TTL_S, "heartbeat_s": 1}
    return {"runs": runs, "settings": used,
            "requeued_s": drain.median([r["requeued_s"] for r in runs]),
            "running_s": drain.median([r["running_s"] for r in runs]),
            "running_max_s": max(r["running_s"] for r in runs),
            "bound_s": used["worker_ttl_s"] + RUNS_APART * used["reap_interval_s"]
            + 1.25 * used["requeue_backoff_s"] + 1}

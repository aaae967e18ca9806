"""Section ui: the console's server time per page beside many finished tasks.

The table gets ui_finished finished tasks (4 queues, 1% failed, finished over the last
six days, as a week of retention would hold them) beside a small live set (200 queued,
50 running of 5 live workers) and 1,000 reaper decisions.  A `tasklease ui` process then
serves every page ui_repeats times after one warm-up request; the time of a page is the
median of its Server-Timing header (request in to response out, inside the server), so
the client and the network are not counted.  Numbers are reported, never asserted.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import psycopg

from . import schema
from .config import Config

Log = Callable[[str], None]
REPO_ROOT = Path(__file__).resolve().parents[1]
QUEUES = ("default", "email", "reports", "billing")
TARGET_MS = 200.0


def _load(conn: psycopg.Connection, finished: int) -> dict:
    schema.empty_tasklease(conn)
    conn.execute(
        """
        INSERT INTO tasklease.tasks (queue, payload, status, attempts, failures, owner_id,
            lease_token, result, last_error, created_at, finished_at)
        SELECT (%(queues)s::text[])[1 + g %% 4], jsonb_build_object('n', g),
            CASE WHEN g %% 100 = 0 THEN 'failed' ELSE 'completed' END::tasklease.task_status,
            1, CASE WHEN g %% 100 = 0 THEN 1 ELSE 0 END, 'bench-ui-' || (g %% 5), g,
            CASE WHEN g %% 100 <> 0 THEN '{"ok": true}'::jsonb END,
            CASE WHEN g %% 100 = 0 THEN 'handler error' END,
            now() - make_interval(secs => 518400.0 * (%(n)s - g) / %(n)s + 1),
            now() - make_interval(secs => 518400.0 * (%(n)s - g) / %(n)s)
        FROM generate_series(1, %(n)s) AS g
        """,
        {"queues": list(QUEUES), "n": finished},
    )
    for i in range(5):
        conn.execute("SELECT tasklease.heartbeat(%s)", (f"bench-ui-live-{i}",))
    conn.execute("SELECT tasklease.enqueue_many(array_agg(jsonb_build_object('q', g)), %s) "
                 "FROM generate_series(1, 250) AS g", ("email",))
    for i in range(50):
        conn.execute("SELECT * FROM tasklease.claim_task(%s, 'email')", (f"bench-ui-live-{i % 5}",))
    conn.execute(
        """
        INSERT INTO tasklease.reaper_log (task_id, action, reason, owner_id, actor, at)
        SELECT g * 997, 'requeued', 'lease_expired', 'bench-ui-0', 'reap_stale_tasks',
            now() - make_interval(secs => g)
        FROM generate_series(1, 1000) AS g
        """
    )
    schema.settle(conn, "tasklease.tasks")
    schema.settle(conn, "tasklease.reaper_log")
    some = conn.execute("SELECT id FROM tasklease.tasks WHERE status = 'failed' "
                        "ORDER BY id DESC LIMIT 1").fetchone()
    return {"task": some[0] if some else 1, "middle": finished // 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_ms(url: str) -> float:
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
        timing = r.headers["server-timing"]
    return float(timing.split("dur=")[1])


def _start(dsn: str, port: int, log_file) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "python"), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "tasklease", "ui", "--dsn", dsn, "--port", str(port),
         "--log-level", "warning"],
        stdout=log_file, stderr=subprocess.STDOUT, env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tasklease ui exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/static/console.css", timeout=2)
            return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("tasklease ui did not answer within 30 s")


def run(dsn: str, cfg: Config, log: Log) -> dict:
    """{finished, pages: {path: {ms, runs_ms}}, target_ms}."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = _load(conn, cfg.ui_finished)
    pages = ["/", "/tasks", "/tasks?status=failed", "/tasks?queue=email",
             f"/tasks?queue=reports&status=completed&before={ids['middle']}",
             f"/tasks/{ids['task']}", "/workers", "/reaper", "/reaper?reason=lease_expired",
             "/metrics"]
    port = _free_port()
    out: dict = {"finished": cfg.ui_finished, "target_ms": TARGET_MS, "pages": {}}
    with tempfile.TemporaryFile() as log_file:
        proc = _start(dsn, port, log_file)
        try:
            for path in pages:
                url = f"http://127.0.0.1:{port}{path}"
                _server_ms(url)  # warm-up: templates compiled, plans cached
                runs = [_server_ms(url) for _ in range(cfg.ui_repeats)]
                out["pages"][path] = {"ms": statistics.median(runs), "runs_ms": runs}
                log(f"  {path:<52} {statistics.median(runs):7.1f} ms")
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.empty_tasklease(conn)
    return out

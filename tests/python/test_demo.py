"""`make demo` end to end, small: the demo itself decides pass/fail (exit 1 when a task is
lost or completed twice), so it cannot rot unnoticed.  It waits for a real pg_cron tick."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_recovers_the_killed_workers_tasks(conn, dsn):
    conn.execute("SELECT tasklease.schedule_reaper()")
    ttl_before = conn.execute("SELECT tasklease._setting('worker_ttl_s')").fetchone()[0]
    proc = subprocess.run(
        [sys.executable, "-m", "tasklease.demo", "--dsn", dsn, "--tasks", "60"],
        capture_output=True, text=True, timeout=240,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "completed: 60, lost: 0" in out, out
    # The killed worker's tasks went back through the reaper, with a reason, exactly once each.
    rows = conn.execute(
        "SELECT l.task_id, l.reason FROM tasklease.reaper_log AS l "
        "JOIN tasklease.tasks AS t ON t.id = l.task_id WHERE t.queue = 'demo'"
    ).fetchall()
    assert rows, "the reaper recorded no decision for the killed worker's tasks"
    assert {reason for _, reason in rows} <= {"owner_dead", "lease_expired"}
    assert len({task for task, _ in rows}) == len(rows)
    done = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) "
        "FROM tasklease.tasks WHERE queue = 'demo'"
    ).fetchone()
    assert done == (60, 60)
    # The demo's short worker TTL is put back.
    assert conn.execute("SELECT tasklease._setting('worker_ttl_s')").fetchone()[0] == ttl_before

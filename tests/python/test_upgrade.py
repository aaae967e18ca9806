"""Upgrades in place, with the previous release's workers running.

A database is installed by release 0.1.0 (the source of commit a41446e, kept as
``releases/tasklease-0.1.0.tar.gz``), 0.1.0 worker processes work through a queue, and
this release's ``migrate`` runs under them.  The old workers must keep claiming,
renewing, heartbeating, completing, failing and releasing through the new functions (an
old call resolving to a re-signed function, never "function is not unique"), a restart
of an old worker must register, and this release's workers must finish the queue: every
task ends with exactly one accepted completion, or failed within its budget.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import psycopg
import pytest
from handlers import HERE, WITNESS_ENV, reset_witness, wait_until
from psycopg.types.json import Jsonb
from tasklease.migrate import migrate

RELEASES = HERE / "releases"
# What an old worker's log must never show after the upgrade.
BAD_LOG_EVENTS = ("event=renew_failed", "event=heartbeat_failed", "event=release_failed",
                  "Traceback", "is not unique", "does not exist")


@pytest.fixture(scope="module")
def release_0_1_0(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("release-0.1.0")
    with tarfile.open(RELEASES / "tasklease-0.1.0.tar.gz") as tar:
        for member in tar.getmembers():
            assert member.name.split("/")[0] == "tasklease-0.1.0" and ".." not in member.name
        tar.extractall(dest)  # noqa: S202 - our own release archive, names checked above
    return dest / "tasklease-0.1.0"


class TaskleaseProcess:
    """``python -m tasklease ...`` of the source tree at ``root`` (a release's, or this one)."""

    def __init__(self, root: Path, dsn: str, *args: str, log: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(root / "python"), str(HERE)])
        env[WITNESS_ENV] = dsn
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tasklease", *args], stdout=self._log,
            stderr=subprocess.STDOUT, env=env, cwd=str(HERE),
        )

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.returncode is not None:
                self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        if not self._log.closed:
            self.wait(10)


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute(
        "SELECT status::text, count(*)::int FROM tasklease.tasks GROUP BY 1").fetchall())


def test_release_0_1_0_upgrades_in_place_with_its_workers_running(fresh_db, release_0_1_0,
                                                                  tmp_path):
    dsn = fresh_db()
    old_migrate = TaskleaseProcess(release_0_1_0, dsn, "migrate", "--dsn", dsn, "--no-schedule",
                             log=tmp_path / "old-migrate.log")
    assert old_migrate.wait(120) == 0, old_migrate.log()

    conn = psycopg.connect(dsn, autocommit=True)
    reset_witness(conn)
    ok = [Jsonb({"n": i, "sleep": 0.05}) for i in range(300)]
    conn.execute("SELECT tasklease.enqueue_many(%s::jsonb[], 'default', now(), 0, 5)", (ok,))
    conn.execute("SELECT tasklease.set_setting('retry_base_s', 1)")

    old = [TaskleaseProcess(release_0_1_0, dsn, "worker", "handlers:work", "--dsn", dsn,
                      "--name", f"old-{i}", "--concurrency", "2", "--lease-s", "3",
                      "--heartbeat-s", "0.5", log=tmp_path / f"old-{i}.log")
           for i in range(2)]
    new_workers: list[TaskleaseProcess] = []
    try:
        wait_until(lambda: _counts(conn).get("completed", 0) >= 40, timeout=60,
                   what="the old workers to complete 40 tasks")

        report = migrate(dsn, schedule=False)
        assert "002_budgets_and_audit.sql" in report.applied
        assert "tasklease.release_owner(text)" in report.dropped
        assert "tasklease.register_worker(text,text,text,integer,jsonb,boolean)" \
            in report.dropped
        # Handler failures of the old workers now spend the new budget counter.
        bad_ids = [r[0] for r in conn.execute(
            "SELECT * FROM tasklease.enqueue_many(%s::jsonb[], 'default', now(), 0, 2)",
            ([Jsonb({"n": i, "fail": "boom"}) for i in range(6)],)).fetchall()]

        # Long enough for several renewals (every second) and heartbeats of the old code.
        done = _counts(conn).get("completed", 0)
        time.sleep(4)
        wait_until(lambda: _counts(conn).get("completed", 0) >= done + 40, timeout=60,
                   what="the old workers to keep completing after the upgrade")

        # A graceful stop of an old worker calls release_owner(owner): the new signature.
        old[0].proc.send_signal(signal.SIGTERM)
        assert old[0].wait(60) == 0, old[0].log()
        assert "event=stopped" in old[0].log()

        # An old worker restarting registers through the 6-argument call.
        old.append(TaskleaseProcess(release_0_1_0, dsn, "worker", "handlers:work", "--dsn", dsn,
                              "--name", "old-0", "--concurrency", "2", "--lease-s", "3",
                              log=tmp_path / "old-0-restarted.log"))
        wait_until(lambda: "event=started" in old[-1].log(), timeout=30,
                   what="the restarted old worker to register")

        new_workers.append(TaskleaseProcess(HERE.parents[1], dsn, "worker", "handlers:work",
                                      "--dsn", dsn, "--name", "new-0", "--concurrency", "4",
                                      log=tmp_path / "new-0.log"))
        wait_until(lambda: _counts(conn) == {"completed": 300, "failed": 6}, timeout=120,
                   interval=0.5, what="every task to end")

        for p in old[1:] + new_workers:
            p.proc.send_signal(signal.SIGTERM)
            assert p.wait(60) == 0, p.log()
        for p in old:
            for bad_event in BAD_LOG_EVENTS:
                assert bad_event not in p.log(), f"{p.log_path.name}: {bad_event}\n{p.log()}"
    finally:
        for p in old + new_workers:
            p.kill()

    # Exactly one accepted completion per task, by the execution whose token it holds.
    assert conn.execute(
        """
        SELECT count(*) FROM tasklease.tasks AS t
        WHERE t.status = 'completed'
            AND (t.result->>'token')::bigint IS DISTINCT FROM t.lease_token
        """).fetchone()[0] == 0
    # The handler-failure budget (max_attempts 2): two failures each, whichever release ran them.
    assert conn.execute(
        "SELECT array_agg(DISTINCT failures) FROM tasklease.tasks WHERE id = ANY(%s)",
        (bad_ids,)).fetchone()[0] == [2]
    conn.close()

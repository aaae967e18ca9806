"""pg_cron set-up by `tasklease migrate`, as a superuser and as a non-superuser owner.

These tests need a cluster of their own whose pg_cron serves a database they may break:
one is started with scripts/pgcluster.sh (pg_cron preloaded, cron.database_name =
'tasklease') and each test puts its `tasklease` database in the state it starts from.

- migrate creates the pg_cron extension when the server preloads it for this database and
  the role may create it, and says which step is missing when it cannot;
- a non-superuser owner (CREATEROLE, CREATE on the database) migrates: without USAGE on
  schema cron the schema is installed and migrate exits 4 naming the GRANT; with it, the
  jobs are scheduled as the owner and pg_cron really runs the reaper (slow: a cron tick).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from backend import PGCLUSTER, _read_env_file, with_dbname
from handlers import REPO_ROOT
from tasklease.migrate import migrate

OWNER = "tl_cron_owner"


@pytest.fixture(scope="module")
def cron_cluster() -> Iterator[str]:
    """Superuser DSN of database tasklease on a private cluster (stopped at the end)."""
    if not PGCLUSTER.exists():
        pytest.skip("scripts/pgcluster.sh is not available")
    directory = Path(tempfile.mkdtemp(prefix="tasklease-cron-"))
    env = dict(os.environ, TASKLEASE_PG_FAST="1")
    subprocess.run(["bash", str(PGCLUSTER), "start", str(directory)], check=True,
                   capture_output=True, env=env, timeout=180)
    try:
        yield _read_env_file(directory / "env")["TASKLEASE_DSN"]
    finally:
        subprocess.run(["bash", str(PGCLUSTER), "stop", str(directory)],
                       capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", str(directory)], check=False)


def _reset(su_dsn: str, extension: bool) -> None:
    """No tasklease schema, no jobs, no owner role; pg_cron created or not."""
    with psycopg.connect(su_dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("DROP SCHEMA IF EXISTS tasklease CASCADE")
        c.execute("DROP EXTENSION IF EXISTS pg_cron")
        if extension:
            c.execute("CREATE EXTENSION pg_cron")
        if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone():
            c.execute(f"DROP OWNED BY {OWNER}")
            c.execute(f"DROP ROLE {OWNER}")


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "python"))
    return subprocess.run([sys.executable, "-m", "tasklease", *args, "--dsn", dsn],
                          capture_output=True, text=True, env=env, timeout=120)


def test_migrate_creates_pg_cron_when_the_server_preloads_it_here(cron_cluster):
    _reset(cron_cluster, extension=False)

    report = migrate(cron_cluster)

    assert report.cron_created and report.cron == "scheduled", report.lines()
    with psycopg.connect(cron_cluster) as c:
        jobs = c.execute("SELECT jobname FROM cron.job ORDER BY 1").fetchall()
    assert jobs == [("tasklease-prune",), ("tasklease-reaper",)]


def test_migrate_says_which_step_is_missing_in_another_database(fresh_db):
    report = migrate(fresh_db())  # a database pg_cron does not serve

    assert report.cron == "absent" and not report.cron_created
    assert "cron.database_name" in report.cron_detail, report.cron_detail
    assert any("not scheduled" in line for line in report.lines())


@pytest.mark.slow
def test_a_non_superuser_owner_migrates_schedules_and_pg_cron_runs_the_reaper(cron_cluster):
    _reset(cron_cluster, extension=True)
    with psycopg.connect(cron_cluster, autocommit=True) as c:
        c.execute(f"CREATE ROLE {OWNER} LOGIN CREATEROLE")
        c.execute(f"GRANT CREATE ON DATABASE tasklease TO {OWNER}")
    owner_dsn = with_dbname(cron_cluster, "tasklease").replace("postgres@", f"{OWNER}@", 1)

    # Without USAGE on schema cron: installed, not scheduled, exit 4 naming the GRANT.
    first = _cli(owner_dsn, "migrate")
    assert first.returncode == 4, first.stdout + first.stderr
    assert "applied migration 001_initial.sql" in first.stdout
    assert "NOT scheduled, the schema is installed" in first.stdout
    assert f"GRANT USAGE ON SCHEMA cron TO {OWNER}" in first.stdout

    with psycopg.connect(cron_cluster, autocommit=True) as c:
        c.execute(f"GRANT USAGE ON SCHEMA cron TO {OWNER}")
    second = _cli(owner_dsn, "migrate")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reaper: scheduled with pg_cron" in second.stdout

    # Only a superuser may schedule jobs as another role: refused before anything changes.
    other = _cli(owner_dsn, "schedule", "--run-as", "postgres")
    assert other.returncode == 1 and "only a superuser" in other.stderr, other.stderr

    with psycopg.connect(owner_dsn, autocommit=True) as c:
        jobs = c.execute("SELECT jobname, username FROM cron.job ORDER BY 1").fetchall()
        assert jobs == [("tasklease-prune", OWNER), ("tasklease-reaper", OWNER)]
        task = c.execute("SELECT tasklease.enqueue('{}')").fetchone()[0]
        c.execute("SELECT id FROM tasklease.claim_task('vanished')")
        c.execute("UPDATE tasklease.tasks SET lease_expires_at = now() - interval '1 s' "
                  "WHERE id = %s", (task,))
        since = c.execute("SELECT now()").fetchone()[0]
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            row = c.execute("SELECT status::text, requeue_count FROM tasklease.tasks "
                            "WHERE id = %s", (task,)).fetchone()
            if row[0] != "running":
                break
            time.sleep(2)
        assert row == ("queued", 1), f"pg_cron did not reap task {task} as {OWNER}"
        runs = dict(c.execute(
            "SELECT status, count(*) FROM cron.job_run_details AS d "
            "JOIN cron.job AS j USING (jobid) "
            "WHERE j.jobname = 'tasklease-reaper' AND d.start_time >= %s GROUP BY status",
            (since,)).fetchall())
    assert runs.get("succeeded", 0) >= 1 and "failed" not in runs, runs

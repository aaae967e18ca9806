"""Shared fixtures. Which server the tests use is decided in backend.py.

Fixtures:
  pg_backend  (session)  the backend.Backend (``.dsn``, ``.admin_dsn(db)``, ``.restart()``)
  server_dsn  (session)  superuser DSN to database ``tasklease``, not migrated
  base_dsn    (session)  the same DSN after ``python -m tasklease migrate`` ran once
  dsn         (function) base_dsn, with tasklease.tasks/workers/reaper_log truncated first
  conn        (function) an autocommit psycopg connection to ``dsn``, closed afterwards
  fresh_db    (function) a factory: ``fresh_db()`` creates an empty, uniquely named database on
                         the same server and returns its DSN; all are dropped (FORCE) afterwards
  settings    (function) ``settings(name, value)`` changes a tasklease setting for this test only
  cron_paused (function) the tasklease pg_cron jobs are inactive during the test
  pooler_dsn  (session)  base_dsn through a PgBouncer in transaction pooling mode (skipped
                         when the backend has no pgcluster.sh cluster to put it in front of)
  report      (function) ``report(line)``: a measurement printed in the session's summary
                         ("tasklease measurements"); reported, never asserted
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import backend
import psycopg
import pytest
from psycopg import sql

# Tables emptied before each test that uses `dsn` (those that exist; pg_cron's are left alone).
# queue_settings: no queue limited or paused (a trigger recounts controlled_queues).
TRUNCATE_TABLES = ("tasks", "workers", "reaper_log", "queue_settings")
_REPORTS: list[str] = []


@pytest.fixture
def report():
    return _REPORTS.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _REPORTS:
        terminalreporter.section("tasklease measurements")
        for line in _REPORTS:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_backend():
    b = backend.start()
    try:
        yield b
    finally:
        backend.stop()


@pytest.fixture(scope="session")
def server_dsn(pg_backend) -> str:
    return pg_backend.dsn


@pytest.fixture(scope="session")
def base_dsn(server_dsn) -> str:
    cmd = [sys.executable, "-m", "tasklease", "migrate", "--dsn", server_dsn]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(
            f"`tasklease migrate` failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return server_dsn


@pytest.fixture
def dsn(base_dsn) -> str:
    with psycopg.connect(base_dsn, autocommit=True) as c:
        present = [
            name
            for (name,) in c.execute(
                """
                SELECT c.relname FROM pg_class AS c
                JOIN pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = 'tasklease' AND c.relkind IN ('r', 'p')
                  AND c.relname = ANY(%s)
                """,
                (list(TRUNCATE_TABLES),),
            )
        ]
        if present:
            # fail fast instead of hanging if an earlier test leaked a lock holder
            c.execute("SET lock_timeout = '10s'")
            c.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier("tasklease", t) for t in present)
                )
            )
    return base_dsn


@pytest.fixture
def conn(dsn):
    c = psycopg.connect(dsn, autocommit=True)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def fresh_db(pg_backend):
    factory = backend.DatabaseFactory(pg_backend)
    try:
        yield factory.create
    finally:
        factory.drop_all()


@pytest.fixture
def settings(conn):
    """set(name, value) changes a tasklease setting for this test only."""
    old: dict[str, int] = {}

    def set_(name: str, value: int) -> None:
        prev = conn.execute("SELECT tasklease.set_setting(%s, %s)", (name, value)).fetchone()[0]
        old.setdefault(name, prev)

    yield set_
    with psycopg.connect(conn.info.dsn, autocommit=True) as c:  # conn may have been cut
        for name, value in old.items():
            c.execute("SELECT tasklease.set_setting(%s, %s)", (name, value))


@pytest.fixture
def cron_paused(conn) -> Iterator[None]:
    """Keep the pg_cron jobs (scheduled by migrate) from touching tasks during the test."""
    if conn.execute("SELECT to_regclass('cron.job') IS NULL").fetchone()[0]:
        yield
        return
    jobs = [
        r[0]
        for r in conn.execute(
            "UPDATE cron.job SET active = false "
            "WHERE jobname LIKE 'tasklease-%' AND active RETURNING jobid"
        )
    ]
    try:
        yield
    finally:
        conn.execute("UPDATE cron.job SET active = true WHERE jobid = ANY(%s)", (jobs,))


@pytest.fixture(scope="session")
def pooler_dsn(pg_backend, base_dsn) -> str:
    if pg_backend.cluster_dir is None:
        pytest.skip("PgBouncer tests need a scripts/pgcluster.sh cluster (make test has one)")
    return pg_backend.start_pooler("transaction")

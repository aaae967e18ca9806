"""The migrator: versioned migrations/, then the repeatable sql/ definitions.

- Each migration runs in its own transaction together with its row in
  tasklease.schema_migrations (version, name, checksum, applied_at).
- The whole run holds a session advisory lock, so concurrent migrators queue
  up and the later ones find nothing left to do.
- A migration whose file changed after it was applied is an error: migrations
  are never edited once landed.
- sql/ (functions, views, settings defaults, grants) is re-applied in one
  transaction whenever any of its files changed or a migration was applied;
  otherwise it is left alone, so a second run changes nothing.
- Safe on a live database: every transaction runs with a bounded lock_timeout
  and is retried with backoff when it hits it, so a migration that needs a
  lock held by a long transaction never queues the workers behind it.
- When pg_cron is installed in the database and no reaper job exists yet, the
  reaper is scheduled, so a fresh install heals itself without further steps.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from . import _resources
from .db import connect, translate_errors
from .errors import MigrationError

# pg_advisory_lock(int, int) key: "task", "leas" in ASCII.
LOCK_KEY = (0x7461736B, 0x6C656173)
_MIGRATION_RE = re.compile(r"^(\d{3,})_([A-Za-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS tasklease;
CREATE TABLE IF NOT EXISTS tasklease.schema_migrations (
    version int PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tasklease.schema_repeatables (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class SqlFile:
    name: str
    path: Path
    text: str
    checksum: str

    @classmethod
    def read(cls, path: Path) -> SqlFile:
        text = path.read_bytes().replace(b"\r\n", b"\n").decode("utf-8")
        return cls(path.name, path, text, hashlib.sha256(text.encode()).hexdigest())


@dataclass(frozen=True)
class Migration(SqlFile):
    version: int = 0


@dataclass
class MigrateReport:
    applied: list[str] = field(default_factory=list)
    sql_applied: bool = False
    sql_files: int = 0
    reaper_job: int | None = None
    cron: str = "absent"  # absent | scheduled | already scheduled | disabled

    def lines(self) -> list[str]:
        out = [f"applied migration {name}" for name in self.applied]
        if not self.applied:
            out.append("migrations: up to date")
        if self.sql_applied:
            out.append(f"sql/: {self.sql_files} files applied")
        else:
            out.append("sql/: unchanged")
        out.append(
            {
                "absent": "reaper: pg_cron is not installed in this database; "
                "schedule tasklease.reap_stale_tasks() yourself",
                "scheduled": f"reaper: scheduled with pg_cron (job {self.reaper_job})",
                "already scheduled": "reaper: already scheduled with pg_cron",
                "disabled": "reaper: not scheduled (--no-schedule)",
            }[self.cron]
        )
        return out


def load_migrations(directory: Path) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_RE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"{path.name} and {found[version].name} share version {version}"
            )
        f = SqlFile.read(path)
        found[version] = Migration(f.name, f.path, f.text, f.checksum, version)
    return [found[v] for v in sorted(found)]


def load_sql(directory: Path) -> list[SqlFile]:
    return [SqlFile.read(p) for p in sorted(directory.glob("*.sql"))]


def migrate(
    dsn: str | None = None,
    *,
    conn: psycopg.Connection | None = None,
    migrations_dir: Path | None = None,
    sql_dir: Path | None = None,
    target: int | None = None,
    schedule: bool = True,
    force_sql: bool = False,
    lock_timeout_ms: int = 5000,
    lock_retries: int = 5,
    log: Callable[[str], None] | None = None,
) -> MigrateReport:
    """Bring the database up to date; safe to run any number of times, concurrently."""
    migrations = load_migrations(migrations_dir or _resources.migrations_dir())
    repeatables = load_sql(sql_dir or _resources.sql_dir())
    if target is not None:
        migrations = [m for m in migrations if m.version <= target]
    own = conn is None
    if own:
        conn = connect(dsn, "migrate")
    assert conn is not None
    conn.autocommit = True
    report = MigrateReport(sql_files=len(repeatables))
    try:
        with translate_errors():
            conn.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEY)
            try:
                tx = _Retrying(conn, lock_timeout_ms, lock_retries, log or (lambda _: None))
                _run(conn, tx, migrations, repeatables, report, force_sql)
                if schedule:
                    _schedule(conn, report)
                else:
                    report.cron = "disabled"
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEY)
    finally:
        if own:
            conn.close()
    return report


class _Retrying:
    """Runs a unit of work in a transaction with a bounded lock_timeout, retried on 55P03."""

    def __init__(self, conn, lock_timeout_ms: int, retries: int, log) -> None:
        self.conn, self.lock_timeout_ms, self.retries, self.log = (
            conn, lock_timeout_ms, retries, log
        )

    def __call__(self, what: str, work: Callable[[], None]) -> None:
        for attempt in range(1, self.retries + 2):
            try:
                with self.conn.transaction():
                    self.conn.execute(
                        "SELECT set_config('lock_timeout', %s, true)",
                        (f"{self.lock_timeout_ms}ms",),
                    )
                    work()
                return
            except psycopg.errors.LockNotAvailable as exc:
                if attempt > self.retries:
                    raise MigrationError(
                        f"{what}: could not take its locks within {self.lock_timeout_ms} ms "
                        f"in {attempt} attempts; a long transaction holds them "
                        "(see pg_stat_activity); retry later or raise --lock-timeout-ms"
                    ) from exc
                delay = min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)
                self.log(f"{what}: lock_timeout after {self.lock_timeout_ms} ms, "
                         f"retrying in {delay:.1f} s")
                time.sleep(delay)


def _run(conn, tx: _Retrying, migrations, repeatables, report, force_sql) -> None:
    tx("bootstrap", lambda: conn.execute(_BOOTSTRAP))
    applied = {
        row[0]: (row[1], row[2])
        for row in conn.execute("SELECT version, name, checksum FROM tasklease.schema_migrations")
    }
    known = {m.version for m in migrations}
    newer = sorted(v for v in applied if v not in known)
    if newer and (not migrations or max(newer) > max(known)):
        name = applied[newer[-1]][0]
        raise MigrationError(
            f"the database has migration {name}, newer than this tasklease knows; "
            "run migrate from the newer release"
        )
    for m in migrations:
        if m.version in applied:
            name, checksum = applied[m.version]
            if checksum != m.checksum:
                raise MigrationError(
                    f"migration {m.name} changed after it was applied as {name} "
                    f"(checksum {checksum[:12]} in the database, {m.checksum[:12]} on disk); "
                    "never edit a landed migration: add a new one"
                )
            continue
        def apply(m: Migration = m) -> None:
            conn.execute(m.text)
            conn.execute(
                "INSERT INTO tasklease.schema_migrations (version, name, checksum) "
                "VALUES (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )

        tx(f"migration {m.name}", apply)
        report.applied.append(m.name)
        tx.log(f"applied migration {m.name}")

    stored = dict(
        conn.execute("SELECT name, checksum FROM tasklease.schema_repeatables").fetchall()
    )
    wanted = {f.name: f.checksum for f in repeatables}
    if force_sql or report.applied or stored != wanted:

        def apply_sql() -> None:
            for f in repeatables:
                try:
                    conn.execute(f.text)
                except psycopg.errors.LockNotAvailable:
                    raise
                except psycopg.Error as exc:
                    raise MigrationError(f"sql/{f.name}: {exc}") from exc
            conn.execute("DELETE FROM tasklease.schema_repeatables")
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO tasklease.schema_repeatables (name, checksum) VALUES (%s, %s)",
                    list(wanted.items()),
                )

        tx("sql/", apply_sql)
        report.sql_applied = True
        tx.log(f"sql/: {len(repeatables)} files applied")


def _schedule(conn, report: MigrateReport) -> None:
    has_cron = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')"
    ).fetchone()[0]
    if not has_cron:
        report.cron = "absent"
        return
    job = conn.execute(
        "SELECT jobid FROM cron.job WHERE jobname = 'tasklease-reaper'"
    ).fetchone()
    if job:
        report.cron, report.reaper_job = "already scheduled", job[0]
        return
    report.reaper_job = conn.execute("SELECT tasklease.schedule_reaper()").fetchone()[0]
    report.cron = "scheduled"

"""The migrator: versioned migrations/, then the repeatable sql/ definitions.

- Each migration runs in its own transaction together with its row in
  tasklease.schema_migrations (version, name, checksum, applied_at).
- The whole run holds a session advisory lock, so concurrent migrators queue
  up (polling for it, see _advisory_lock) and the later ones find nothing
  left to do.
- ``target`` stops after that migration; when that is before the newest one,
  sql/ is not applied: it is written for the newest schema.
- A migration whose file changed after it was applied is an error: migrations
  are never edited once landed.
- sql/ (functions, views, settings defaults, grants) is re-applied in one
  transaction whenever any of its files changed or a migration was applied;
  otherwise it is left alone, so a second run changes nothing.  In that same
  transaction every function of schema tasklease that sql/ did not (re)create
  is dropped: a function a release removed or re-signed (a new parameter)
  leaves no old signature behind to make calls ambiguous or keep its grants.
  So every function in sql/ is created unconditionally (CREATE OR REPLACE),
  files named *_grants.sql (which rewrite every function's privileges) come
  last, and schema tasklease holds no functions of anyone else's.
- Safe on a live database: every transaction runs with a bounded lock_timeout
  and is retried with backoff when it hits it, so a migration that needs a
  lock held by a long transaction never queues the workers behind it.
- An index on a big table is built without blocking writes: a migration may
  end with a section that starts with the line ``-- tasklease:concurrently``
  and holds only ``CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON
  tasklease.<table> ...;`` statements (one per ``;`` at a line end).  They run
  after the migration's transaction committed, one at a time outside any
  transaction, each recorded in tasklease.schema_concurrent_indexes once
  built.  A build that was interrupted (a lock_timeout, a crash, a failed
  unique check) leaves an INVALID index or none: every later migrate drops
  the invalid leftover and builds it again until it is recorded.  Inside a
  transaction a plain CREATE INDEX holds a SHARE lock for the whole build,
  blocking every claim, enqueue and completion: about 350 ms per partial
  index at 1M rows on the 2-core test machine (docs/operations.md).
- When pg_cron is installed in the database and no reaper job exists yet, the
  reaper is scheduled, so a fresh install heals itself without further steps.
  When pg_cron is preloaded for this database but not yet created, and the
  role may create it, it is created first; otherwise the report says which
  step is missing.  A scheduling failure is reported (MigrateReport.cron_error)
  after the schema is installed, never instead of it.
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
from .errors import MigrationError, TaskleaseError

# pg_advisory_lock(int, int) key: "task", "leas" in ASCII.
LOCK_KEY = (0x7461736B, 0x6C656173)
_MIGRATION_RE = re.compile(r"^(\d{3,})_([A-Za-z0-9_]+)\.sql$")
CONCURRENTLY_MARKER = "-- tasklease:concurrently"
_CONCURRENT_INDEX_RE = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+"
    r"([a-z_][a-z0-9_]*)\s+ON\s+(?:ONLY\s+)?tasklease\.[a-z_][a-z0-9_]*\s",
    re.I | re.S,
)

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
CREATE TABLE IF NOT EXISTS tasklease.schema_concurrent_indexes (
    version int NOT NULL,
    name text NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, name)
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
class ConcurrentIndex:
    """One CREATE INDEX CONCURRENTLY statement of a migration's concurrent section."""

    name: str
    sql: str


@dataclass(frozen=True)
class Migration(SqlFile):
    version: int = 0
    transactional: str = ""  # the part before CONCURRENTLY_MARKER (all of it when absent)
    indexes: tuple[ConcurrentIndex, ...] = ()

    @classmethod
    def parse(cls, f: SqlFile, version: int) -> Migration:
        marker = re.search(rf"^{re.escape(CONCURRENTLY_MARKER)}[ \t]*$", f.text, re.M)
        if marker is None:
            return cls(f.name, f.path, f.text, f.checksum, version, f.text)
        return cls(f.name, f.path, f.text, f.checksum, version, f.text[: marker.start()],
                   _concurrent_indexes(f.name, f.text[marker.end():]))


def _concurrent_indexes(name: str, section: str) -> tuple[ConcurrentIndex, ...]:
    """The statements after the marker: CREATE INDEX CONCURRENTLY IF NOT EXISTS only."""
    code = "\n".join(line for line in section.splitlines() if not line.lstrip().startswith("--"))
    found = []
    for statement in re.split(r";[ \t]*$", code, flags=re.M):
        statement = statement.strip()
        if not statement:
            continue
        match = _CONCURRENT_INDEX_RE.match(statement)
        if not match:
            raise MigrationError(
                f"{name}: after '{CONCURRENTLY_MARKER}' only statements "
                "'CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON tasklease.<table> "
                f"...;' may follow, got: {statement.splitlines()[0][:80]}"
            )
        found.append(ConcurrentIndex(match.group(1).lower(), statement))
    return tuple(found)


@dataclass
class MigrateReport:
    applied: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)  # built concurrently by this run
    sql_applied: bool = False
    sql_files: int = 0
    dropped: list[str] = field(default_factory=list)
    reaper_job: int | None = None
    stopped_at: int | None = None  # --target: the run stopped before the newest migration
    cron: str = "absent"  # absent | scheduled | already scheduled | disabled | stopped | failed
    cron_created: bool = False  # migrate ran CREATE EXTENSION pg_cron
    cron_detail: str = ""  # absent: what is missing; failed: the error and its hint

    def lines(self) -> list[str]:
        out = [f"applied migration {name}" for name in self.applied]
        out += [f"built index {name} concurrently" for name in self.indexes]
        if not self.applied:
            out.append("migrations: up to date")
        if self.stopped_at is not None:
            out.append(f"sql/: not applied: stopped at migration {self.stopped_at}, before the "
                       "newest, which sql/ is written for")
        elif self.sql_applied:
            out.append(f"sql/: {self.sql_files} files applied")
        else:
            out.append("sql/: unchanged")
        out += [f"sql/: dropped {sig} (no longer defined)" for sig in self.dropped]
        if self.cron_created:
            out.append("pg_cron: created the extension in this database")
        out.append(
            {
                "absent": "reaper: not scheduled: pg_cron is not installed in this database"
                + (f" ({self.cron_detail})" if self.cron_detail else "")
                + "; schedule tasklease.reap_stale_tasks() yourself",
                "scheduled": f"reaper: scheduled with pg_cron (job {self.reaper_job})",
                "already scheduled": "reaper: already scheduled with pg_cron",
                "disabled": "reaper: not scheduled (--no-schedule)",
                "stopped": "reaper: not scheduled (stopped before the newest migration)",
                "failed": "reaper: NOT scheduled, the schema is installed: " + self.cron_detail,
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
        found[version] = Migration.parse(SqlFile.read(path), version)
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
    report = MigrateReport(sql_files=len(repeatables))
    if target is not None and migrations and target < migrations[-1].version:
        # sql/ is written for the newest schema: a run that stops before it leaves sql/
        # (and the reaper's schedule, which needs it) to the run that finishes the upgrade.
        report.stopped_at = target
        migrations = [m for m in migrations if m.version <= target]
    own = conn is None
    if own:
        conn = connect(dsn, "migrate")
    assert conn is not None
    conn.autocommit = True
    log = log or (lambda _: None)
    try:
        with translate_errors():
            _advisory_lock(conn, log)
            try:
                tx = _Retrying(conn, lock_timeout_ms, lock_retries, log)
                stopped = report.stopped_at is not None
                _run(conn, tx, migrations, None if stopped else repeatables, report, force_sql)
                if stopped:
                    report.cron = "stopped"
                elif schedule:
                    _schedule(conn, report)
                else:
                    report.cron = "disabled"
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEY)
    finally:
        if own:
            conn.close()
    return report


def _advisory_lock(conn, log: Callable[[str], None]) -> None:
    """Take the migrators' lock, polling: never wait for it inside a statement.

    A session blocked in pg_advisory_lock() holds a snapshot, and the CREATE INDEX
    CONCURRENTLY of the migrator holding the lock waits for every older snapshot to end:
    the two would deadlock.
    """
    delay = 0.05
    while not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEY).fetchone()[0]:
        if delay == 0.05:
            log("waiting for another tasklease migrate to finish")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


class _Retrying:
    """Runs a unit of work in a transaction with a bounded lock_timeout, retried on 55P03."""

    def __init__(self, conn, lock_timeout_ms: int, retries: int, log) -> None:
        self.conn, self.lock_timeout_ms, self.retries, self.log = (
            conn, lock_timeout_ms, retries, log
        )

    def __call__(self, what: str, work: Callable[[], None]) -> None:
        def in_transaction() -> None:
            with self.conn.transaction():
                self._set_lock_timeout(local=True)
                work()

        self._retry(what, in_transaction)

    def outside(self, what: str, work: Callable[[], None]) -> None:
        """The same bound and retries for statements that cannot run in a transaction."""

        def in_session() -> None:
            self._set_lock_timeout(local=False)
            try:
                work()
            finally:
                self.conn.execute("RESET lock_timeout")

        self._retry(what, in_session)

    def _set_lock_timeout(self, local: bool) -> None:
        self.conn.execute(
            "SELECT set_config('lock_timeout', %s, %s)", (f"{self.lock_timeout_ms}ms", local)
        )

    def _retry(self, what: str, attempt_once: Callable[[], None]) -> None:
        for attempt in range(1, self.retries + 2):
            try:
                attempt_once()
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
    built = set(
        conn.execute("SELECT version, name FROM tasklease.schema_concurrent_indexes").fetchall()
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
        else:
            def apply(m: Migration = m) -> None:
                conn.execute(m.transactional)
                conn.execute(
                    "INSERT INTO tasklease.schema_migrations (version, name, checksum) "
                    "VALUES (%s, %s, %s)",
                    (m.version, m.name, m.checksum),
                )

            tx(f"migration {m.name}", apply)
            report.applied.append(m.name)
            tx.log(f"applied migration {m.name}")
        # Also for a migration applied by an earlier run: its builds may not have finished.
        for index in m.indexes:
            if (m.version, index.name) not in built:
                _build_index(conn, tx, m, index)
                report.indexes.append(index.name)
                tx.log(f"built index {index.name} concurrently")

    if repeatables is None:
        return
    stored = dict(
        conn.execute("SELECT name, checksum FROM tasklease.schema_repeatables").fetchall()
    )
    wanted = {f.name: f.checksum for f in repeatables}
    if force_sql or report.applied or stored != wanted:

        def apply_sql() -> None:
            dropped: list[str] | None = None
            for f in repeatables:
                if dropped is None and f.name.endswith("_grants.sql"):
                    # Before the grants: their REVOKE ... ON ALL FUNCTIONS rewrites every
                    # function's pg_proc row, old ones included.
                    dropped = _drop_undefined_functions(conn)
                try:
                    conn.execute(f.text)
                except psycopg.errors.LockNotAvailable:
                    raise
                except psycopg.Error as exc:
                    raise MigrationError(f"sql/{f.name}: {exc}") from exc
            report.dropped = _drop_undefined_functions(conn) if dropped is None else dropped
            conn.execute("DELETE FROM tasklease.schema_repeatables")
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO tasklease.schema_repeatables (name, checksum) VALUES (%s, %s)",
                    list(wanted.items()),
                )

        tx("sql/", apply_sql)
        report.sql_applied = True
        tx.log(f"sql/: {len(repeatables)} files applied")


def _build_index(conn, tx: _Retrying, m: Migration, index: ConcurrentIndex) -> None:
    """Build one index of m's concurrent section outside any transaction, and record it.

    An INVALID index of that name is what an interrupted CREATE INDEX CONCURRENTLY leaves
    behind (IF NOT EXISTS would keep it as it is): it is dropped, concurrently, first.
    """

    def build() -> None:
        row = conn.execute(
            """
            SELECT i.indisvalid AND i.indisready
            FROM pg_catalog.pg_index AS i
            JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
            WHERE c.relnamespace = 'tasklease'::regnamespace AND c.relname = %s
            """,
            (index.name,),
        ).fetchone()
        if row is not None and not row[0]:
            tx.log(f"index {index.name}: dropping the invalid leftover of an interrupted build")
            conn.execute(f'DROP INDEX CONCURRENTLY IF EXISTS tasklease."{index.name}"')
        try:
            conn.execute(index.sql)
        except psycopg.errors.LockNotAvailable:
            raise
        except psycopg.Error as exc:
            raise MigrationError(f"migration {m.name}: index {index.name}: {exc}") from exc
        conn.execute(
            "INSERT INTO tasklease.schema_concurrent_indexes (version, name) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING",
            (m.version, index.name),
        )

    tx.outside(f"migration {m.name}: index {index.name}", build)


def _drop_undefined_functions(conn) -> list[str]:
    """Drop the functions of schema tasklease that this transaction did not (re)create.

    CREATE OR REPLACE writes a new pg_proc row version even for an unchanged
    definition, so after sql/ ran, a row whose xmin is not this transaction's
    belongs to a function sql/ no longer defines (or to an old signature).
    Members of extensions are left alone.
    """
    stale = [
        row[0]
        for row in conn.execute(
            """
            SELECT p.oid::regprocedure::text
            FROM pg_catalog.pg_proc AS p
            WHERE p.pronamespace = 'tasklease'::regnamespace
                AND p.xmin <> pg_catalog.pg_current_xact_id()::xid
                AND NOT EXISTS (
                    SELECT 1 FROM pg_catalog.pg_depend AS d
                    WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                        AND d.deptype = 'e'
                )
            ORDER BY 1
            """
        )
    ]
    for signature in stale:
        conn.execute(f"DROP ROUTINE {signature}")  # regprocedure text is quoted already
    return stale


def _ensure_cron(conn, report: MigrateReport) -> bool:
    """True when pg_cron is installed here, creating it when this role can; else says why."""
    installed, available, superuser = conn.execute(
        """
        SELECT
            EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'),
            EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pg_cron'),
            (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
        """
    ).fetchone()
    if installed:
        return True
    if not available:
        report.cron_detail = ("the pg_cron package is not installed on the server "
                              "(Debian: postgresql-<major>-cron)")
        return False
    if not superuser:
        # cron.database_name and shared_preload_libraries are readable by superusers only.
        report.cron_detail = (
            "pg_cron is available but not created here; a superuser must run CREATE EXTENSION "
            "pg_cron in the database named by cron.database_name, with pg_cron in "
            "shared_preload_libraries, then GRANT USAGE ON SCHEMA cron to this role"
        )
        return False
    preload, cron_db, here = conn.execute(
        "SELECT current_setting('shared_preload_libraries'), "
        "current_setting('cron.database_name', true), current_database()"
    ).fetchone()
    if "pg_cron" not in [p.strip() for p in preload.split(",")]:
        report.cron_detail = ("pg_cron is not in shared_preload_libraries: add it and "
                              "restart PostgreSQL")
        return False
    if (cron_db or "postgres") != here:
        report.cron_detail = (f"cron.database_name is {cron_db or 'postgres'!r}, not this "
                              f"database {here!r}: set cron.database_name = '{here}' and "
                              "restart PostgreSQL")
        return False
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    report.cron_created = True
    return True


def _schedule(conn, report: MigrateReport) -> None:
    if not _ensure_cron(conn, report):
        report.cron = "absent"
        return
    try:
        with translate_errors():
            # cron.job shows a non-superuser its own jobs only (row-level security); a role
            # without USAGE on schema cron cannot read it: schedule_reaper then says which
            # GRANT is missing (TL013).
            if conn.execute("SELECT has_schema_privilege('cron', 'USAGE')").fetchone()[0]:
                job = conn.execute(
                    "SELECT jobid FROM cron.job WHERE jobname = 'tasklease-reaper'"
                ).fetchone()
                if job:
                    report.cron, report.reaper_job = "already scheduled", job[0]
                    return
            report.reaper_job = conn.execute("SELECT tasklease.schedule_reaper()").fetchone()[0]
    except (TaskleaseError, psycopg.Error) as exc:
        report.cron = "failed"
        report.cron_detail = " ".join(str(exc).split())
        return
    report.cron = "scheduled"

"""The migrator: idempotence, fresh install == upgrade, new migrations, checksums, concurrency,
operator settings, and transactional failure.  Every test works on its own empty database
(``fresh_db``), so nothing here touches the shared ``tasklease`` database."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from tasklease import _resources
from tasklease.errors import MigrationError
from tasklease.migrate import MigrateReport, load_migrations, migrate

EXTRA_NAME = "999_test_extra.sql"
EXTRA_SQL = (
    "CREATE TABLE tasklease.test_extra (id int PRIMARY KEY, note text NOT NULL);\n"
    "CREATE INDEX test_extra_note_idx ON tasklease.test_extra (note);\n"
)

# One row per schema object, with everything that defines it: two databases whose
# fingerprints are equal have the same tables, columns, constraints, indexes, functions
# (bodies, settings, privileges), views, types and sequences in schema tasklease.
FINGERPRINT_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity
        FROM pg_attribute AS a
        JOIN pg_class AS c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'tasklease'::regnamespace AND a.attnum > 0
          AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "relations": """
        SELECT relname, relkind::text, reloptions::text, relacl::text
        FROM pg_class WHERE relnamespace = 'tasklease'::regnamespace ORDER BY 1""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'tasklease'::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'tasklease' ORDER BY 1""",
    "functions": """
        SELECT proname, pg_get_function_identity_arguments(oid),
               pg_get_function_result(oid), prosrc, prosecdef, provolatile::text,
               proconfig::text, proacl::text, obj_description(oid, 'pg_proc')
        FROM pg_proc WHERE pronamespace = 'tasklease'::regnamespace ORDER BY 1, 2""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'tasklease' ORDER BY 1""",
    "types": """
        SELECT t.typname, t.typtype::text,
               array_agg(e.enumlabel ORDER BY e.enumsortorder)::text
        FROM pg_type AS t LEFT JOIN pg_enum AS e ON e.enumtypid = t.oid
        WHERE t.typnamespace = 'tasklease'::regnamespace
        GROUP BY 1, 2 ORDER BY 1""",
    "schema": """
        SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname = 'tasklease'""",
}


# ------------------------------------------------------------------ helpers


def fingerprint(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn, autocommit=True) as c:
        return {name: c.execute(q).fetchall() for name, q in FINGERPRINT_QUERIES.items()}


def pg_dump_path() -> str | None:
    bindir = os.environ.get("TASKLEASE_PG_BINDIR")
    if bindir and (Path(bindir) / "pg_dump").is_file():
        return str(Path(bindir) / "pg_dump")
    return shutil.which("pg_dump")


def schema_dump(dsn: str) -> str | None:
    """``pg_dump --schema-only --schema=tasklease``, or None when pg_dump is not installed."""
    exe = pg_dump_path()
    if exe is None:
        return None
    proc = subprocess.run(
        [exe, "--schema-only", "--schema=tasklease", "--no-comments", f"--dbname={dsn}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # pg_dump 15.14+ brackets the dump with \restrict <random key> ... \unrestrict <key>
    keys = ("\\restrict", "\\unrestrict")
    return "\n".join(line for line in proc.stdout.splitlines() if not line.startswith(keys))


def assert_same_schema(dsn_a: str, dsn_b: str) -> None:
    fa, fb = fingerprint(dsn_a), fingerprint(dsn_b)
    for part in FINGERPRINT_QUERIES:
        assert fa[part] == fb[part], f"schema part {part!r} differs"
    dump_a, dump_b = schema_dump(dsn_a), schema_dump(dsn_b)
    assert dump_a == dump_b


def applied_rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as c:
        return c.execute(
            "SELECT version, name, checksum FROM tasklease.schema_migrations ORDER BY version"
        ).fetchall()


def copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(_resources.migrations_dir(), target)
    return target


def relation_exists(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn) as c:
        return c.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def repo_versions() -> list[int]:
    return [m.version for m in load_migrations(_resources.migrations_dir())]


# ------------------------------------------------------------------ idempotence


def test_second_migrate_changes_nothing(fresh_db):
    dsn = fresh_db()
    first = migrate(dsn)
    assert first.applied == [m.name for m in load_migrations(_resources.migrations_dir())]
    assert first.sql_applied
    fp_before, dump_before = fingerprint(dsn), schema_dump(dsn)
    with psycopg.connect(dsn) as c:
        stamps_before = c.execute(
            "SELECT name, applied_at FROM tasklease.schema_repeatables ORDER BY 1"
        ).fetchall()

    second = migrate(dsn)

    assert second.applied == []
    assert second.sql_applied is False
    assert "sql/: unchanged" in second.lines()
    assert "migrations: up to date" in second.lines()
    assert fingerprint(dsn) == fp_before
    assert schema_dump(dsn) == dump_before
    with psycopg.connect(dsn) as c:
        stamps_after = c.execute(
            "SELECT name, applied_at FROM tasklease.schema_repeatables ORDER BY 1"
        ).fetchall()
    assert stamps_after == stamps_before, "sql/ was re-applied by an idempotent run"


def test_cli_second_run_reports_unchanged(fresh_db):
    dsn = fresh_db()
    cmd = [sys.executable, "-m", "tasklease", "migrate", "--dsn", dsn]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "applied migration" in first.stdout
    assert "applied migration" not in second.stdout
    assert "sql/: unchanged" in second.stdout.splitlines()


# ------------------------------------------------------------------ fresh install == upgrade


def test_fresh_install_equals_step_by_step_upgrade(fresh_db, tmp_path):
    migrations = copy_migrations(tmp_path)
    (migrations / EXTRA_NAME).write_text(EXTRA_SQL)
    first_version = repo_versions()[0]
    upgraded, fresh = fresh_db(), fresh_db()

    partial = migrate(upgraded, migrations_dir=migrations, target=first_version)
    assert [r[0] for r in applied_rows(upgraded)] == [first_version]
    assert partial.applied and not relation_exists(upgraded, "tasklease.test_extra")
    rest = migrate(upgraded, migrations_dir=migrations)
    migrate(fresh, migrations_dir=migrations)

    assert EXTRA_NAME in rest.applied and rest.applied[0] != partial.applied[0]
    assert [r[:2] for r in applied_rows(upgraded)] == [r[:2] for r in applied_rows(fresh)]
    assert_same_schema(upgraded, fresh)


def test_fresh_install_equals_upgrade_of_repo_migrations(fresh_db):
    versions = repo_versions()
    upgraded, fresh = fresh_db(), fresh_db()
    for version in versions:
        migrate(upgraded, target=version)
    migrate(fresh)
    assert applied_rows(upgraded) == applied_rows(fresh)
    assert_same_schema(upgraded, fresh)


# ------------------------------------------------------------------ new migration, checksums


def test_new_migration_is_applied_alone_and_recorded(fresh_db, tmp_path):
    dsn = fresh_db()
    migrate(dsn)
    before = applied_rows(dsn)
    migrations = copy_migrations(tmp_path)
    extra = migrations / EXTRA_NAME
    extra.write_text(EXTRA_SQL)

    report = migrate(dsn, migrations_dir=migrations)

    assert report.applied == [EXTRA_NAME]
    assert report.sql_applied, "sql/ must be re-applied after a migration"
    rows = applied_rows(dsn)
    assert rows[:-1] == before
    assert rows[-1] == (999, EXTRA_NAME, sha256(extra))
    assert relation_exists(dsn, "tasklease.test_extra")
    again = migrate(dsn, migrations_dir=migrations)
    assert again.applied == [] and not again.sql_applied


# ------------------------------------------------------------------ sql/ defines the functions

RESIGNED = """
CREATE OR REPLACE FUNCTION tasklease.test_api(a int{extra})
RETURNS int LANGUAGE sql AS 'SELECT a';
CREATE OR REPLACE FUNCTION tasklease.test_gone() RETURNS int LANGUAGE sql AS 'SELECT 1';
"""


def _functions(dsn: str, name: str) -> list[str]:
    with psycopg.connect(dsn) as c:
        return [r[0] for r in c.execute(
            "SELECT oid::regprocedure::text FROM pg_proc "
            "WHERE pronamespace = 'tasklease'::regnamespace AND proname = %s ORDER BY 1",
            (name,))]


def test_sql_re_apply_drops_removed_and_re_signed_functions(fresh_db, tmp_path):
    dsn = fresh_db()
    sql_dir = tmp_path / "sql"
    shutil.copytree(_resources.sql_dir(), sql_dir)
    extra = sql_dir / "080_test_api.sql"
    extra.write_text(RESIGNED.format(extra=""))
    migrate(dsn, sql_dir=sql_dir)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("GRANT EXECUTE ON FUNCTION tasklease.test_gone() TO tasklease_worker")

    # The next release gives test_api a defaulted parameter and removes test_gone.
    extra.write_text(RESIGNED.format(extra=", b int DEFAULT 0").split(
        "CREATE OR REPLACE FUNCTION tasklease.test_gone")[0])
    report = migrate(dsn, sql_dir=sql_dir)

    assert report.dropped == ["tasklease.test_api(integer)", "tasklease.test_gone()"]
    assert _functions(dsn, "test_api") == ["tasklease.test_api(integer,integer)"]
    assert _functions(dsn, "test_gone") == [], "a removed function keeps its grants"
    with psycopg.connect(dsn) as c:  # not ambiguous (42725) as with both signatures
        assert c.execute("SELECT tasklease.test_api(7)").fetchone()[0] == 7
    assert migrate(dsn, sql_dir=sql_dir, force_sql=True).dropped == []


def _edit_first_migration(tmp_path: Path) -> Path:
    migrations = copy_migrations(tmp_path)
    first = sorted(migrations.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after it landed\n")
    return migrations


def test_changed_checksum_raises_migration_error(fresh_db, tmp_path):
    dsn = fresh_db()
    migrate(dsn)
    rows = applied_rows(dsn)
    migrations = _edit_first_migration(tmp_path)
    with pytest.raises(MigrationError):
        migrate(dsn, migrations_dir=migrations)
    assert applied_rows(dsn) == rows


def test_cli_exits_1_on_changed_checksum(fresh_db, tmp_path):
    dsn = fresh_db()
    migrate(dsn)
    migrations = _edit_first_migration(tmp_path)
    first_name = sorted(p.name for p in migrations.glob("*.sql"))[0]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tasklease",
            "migrate",
            "--dsn",
            dsn,
            "--migrations-dir",
            str(migrations),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    err = proc.stderr.strip().splitlines()
    assert err and err[0].startswith("tasklease: error:"), proc.stderr
    assert first_name in proc.stderr, "the message must name the edited migration"
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------ concurrency


def test_concurrent_migrators_apply_each_migration_once(fresh_db):
    dsn = fresh_db()
    reports: list[MigrateReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            reports.append(migrate(dsn))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(reports) == 2
    names = [m.name for m in load_migrations(_resources.migrations_dir())]
    applied = sorted((r.applied for r in reports), key=len)
    assert applied == [[], names], "exactly one migrator applies the migrations"
    assert sorted(r.sql_applied for r in reports) == [False, True]
    assert [r[1] for r in applied_rows(dsn)] == names


# ------------------------------------------------------------------ settings


def _setting(dsn: str, name: str) -> int:
    with psycopg.connect(dsn) as c:
        return c.execute(
            "SELECT value FROM tasklease.settings WHERE name = %s", (name,)
        ).fetchone()[0]


def test_operator_settings_survive_forced_remigrate(fresh_db):
    dsn = fresh_db()
    migrate(dsn)
    default_lease = _setting(dsn, "lease_s")
    chosen = default_lease + 17
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT tasklease.set_setting('lease_s', %s)", (chosen,))
        # As in a database from before a release added the setting (settings cannot be
        # deleted: the table's guard refuses it).
        c.execute("ALTER TABLE tasklease.settings DISABLE TRIGGER settings_guard")
        c.execute("DELETE FROM tasklease.settings WHERE name = 'reap_batch'")
        c.execute("ALTER TABLE tasklease.settings ENABLE TRIGGER settings_guard")

    report = migrate(dsn, force_sql=True)

    assert report.sql_applied
    assert _setting(dsn, "lease_s") == chosen, "an operator's value was reset"
    assert _setting(dsn, "reap_batch") > 0, "a missing default was not inserted again"


# ------------------------------------------------------------------ failure is transactional


def test_failed_migration_leaves_nothing_behind(fresh_db, tmp_path):
    dsn = fresh_db()
    migrate(dsn)
    before, fp_before = applied_rows(dsn), fingerprint(dsn)
    migrations = copy_migrations(tmp_path)
    (migrations / "998_test_broken.sql").write_text(
        "CREATE TABLE tasklease.test_partial (id int);\n"
        "CREATE INDEX test_partial_idx ON tasklease.test_partial (id);\n"
        "SELECT 1 / 0;\n"
    )

    with pytest.raises(psycopg.Error) as info:
        migrate(dsn, migrations_dir=migrations)

    assert info.value.sqlstate == "22012"
    assert applied_rows(dsn) == before
    assert not relation_exists(dsn, "tasklease.test_partial")
    assert fingerprint(dsn) == fp_before
    with psycopg.connect(dsn) as c:
        locks = c.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]
    assert locks == 0, "the migrator's advisory lock outlived the failure"


def _hold_lock(dsn: str, release: threading.Event, locked: threading.Event) -> None:
    """A long transaction (a slow dashboard, say) holding a lock that sql/ needs."""
    with psycopg.connect(dsn) as c:
        c.execute("LOCK TABLE tasklease.settings IN ACCESS EXCLUSIVE MODE")
        locked.set()
        release.wait(30)
        c.rollback()


def test_lock_wait_is_bounded_then_fails_cleanly(fresh_db):
    dsn = fresh_db()
    migrate(dsn, schedule=False)
    release, locked = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(dsn, release, locked))
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(MigrationError, match="lock"):
            migrate(dsn, schedule=False, force_sql=True, lock_timeout_ms=100, lock_retries=1)
    finally:
        release.set()
        holder.join()
    # Nothing half-applied: the next run works and sql/ is recorded as applied.
    assert migrate(dsn, schedule=False, force_sql=True).sql_applied


def test_lock_wait_is_retried_until_the_lock_is_released(fresh_db):
    dsn = fresh_db()
    migrate(dsn, schedule=False)
    release, locked = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(dsn, release, locked))
    holder.start()
    lines: list[str] = []
    try:
        assert locked.wait(10)
        threading.Timer(0.5, release.set).start()
        report = migrate(dsn, schedule=False, force_sql=True, lock_timeout_ms=100,
                         lock_retries=8, log=lines.append)
    finally:
        release.set()
        holder.join()
    assert report.sql_applied
    assert any("retrying" in line for line in lines), lines


# ------------------------------------------------------------------ concurrent index builds

TABLE_MIGRATION = (
    "998_test_table.sql",
    "CREATE TABLE tasklease.test_conc (id int PRIMARY KEY, note text NOT NULL);\n"
    "INSERT INTO tasklease.test_conc\n"
    "SELECT g, 'n' || (g % 3) FROM generate_series(1, 1000) AS g;\n",
)
INDEX_MIGRATION = (
    "999_test_indexes.sql",
    "-- Only a concurrent section: the transactional part is this comment.\n"
    "-- tasklease:concurrently\n"
    "-- Comments between the statements are fine.\n"
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS test_conc_note_idx ON tasklease.test_conc (note);\n"
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS test_conc_id_note_idx\n"
    "    ON tasklease.test_conc (id, note) WHERE note <> '';\n",
)
UNIQUE_NOTE_MIGRATION = (
    "999_test_indexes.sql",
    "-- tasklease:concurrently\n"
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS test_conc_note_key\n"
    "    ON tasklease.test_conc (note);\n",
)


def with_test_migrations(tmp_path: Path, *files: tuple[str, str]) -> Path:
    migrations = copy_migrations(tmp_path)
    for name, text in files:
        (migrations / name).write_text(text)
    return migrations


def index_state(dsn: str, name: str) -> str:
    """'valid', 'invalid' or 'missing'."""
    with psycopg.connect(dsn) as c:
        row = c.execute(
            "SELECT i.indisvalid AND i.indisready FROM pg_index AS i "
            "JOIN pg_class AS c ON c.oid = i.indexrelid "
            "WHERE c.relnamespace = 'tasklease'::regnamespace AND c.relname = %s",
            (name,),
        ).fetchone()
    return "missing" if row is None else "valid" if row[0] else "invalid"


def recorded_indexes(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as c:
        return c.execute(
            "SELECT version, name FROM tasklease.schema_concurrent_indexes ORDER BY 1, 2"
        ).fetchall()


def test_concurrent_indexes_are_built_outside_the_transaction_and_recorded(fresh_db, tmp_path):
    dsn = fresh_db()
    migrations = with_test_migrations(tmp_path, TABLE_MIGRATION, INDEX_MIGRATION)

    report = migrate(dsn, migrations_dir=migrations, schedule=False)

    # CREATE INDEX CONCURRENTLY fails inside a transaction block: built means built outside.
    assert report.applied[-2:] == [TABLE_MIGRATION[0], INDEX_MIGRATION[0]]
    assert report.indexes[-2:] == ["test_conc_note_idx", "test_conc_id_note_idx"]
    assert "built index test_conc_note_idx concurrently" in report.lines()
    assert index_state(dsn, "test_conc_note_idx") == "valid"
    assert index_state(dsn, "test_conc_id_note_idx") == "valid"
    assert (999, "test_conc_id_note_idx") in recorded_indexes(dsn)
    again = migrate(dsn, migrations_dir=migrations, schedule=False)
    assert again.applied == [] and again.indexes == []


def test_an_interrupted_build_is_finished_by_the_next_migrate(fresh_db, tmp_path):
    dsn = fresh_db()
    migrations = with_test_migrations(tmp_path, TABLE_MIGRATION, UNIQUE_NOTE_MIGRATION)

    with pytest.raises(MigrationError, match="test_conc_note_key"):
        migrate(dsn, migrations_dir=migrations, schedule=False)

    # The transaction committed and is recorded; the failed build left an INVALID index.
    assert [r[0] for r in applied_rows(dsn)][-2:] == [998, 999]
    assert index_state(dsn, "test_conc_note_key") == "invalid"
    assert (999, "test_conc_note_key") not in recorded_indexes(dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("DELETE FROM tasklease.test_conc WHERE id > 3")  # notes n1, n2, n0: unique

    report = migrate(dsn, migrations_dir=migrations, schedule=False)

    assert report.applied == [] and report.indexes == ["test_conc_note_key"]
    assert index_state(dsn, "test_conc_note_key") == "valid"
    assert (999, "test_conc_note_key") in recorded_indexes(dsn)


def test_a_build_waits_for_writers_within_lock_timeout_then_a_later_run_builds_it(
    fresh_db, tmp_path
):
    dsn = fresh_db()
    migrations = with_test_migrations(tmp_path, TABLE_MIGRATION, INDEX_MIGRATION)
    migrate(dsn, migrations_dir=migrations, target=998, schedule=False)
    with psycopg.connect(dsn) as writer:  # an open transaction that wrote to the table
        writer.execute("UPDATE tasklease.test_conc SET note = note WHERE id = 1")
        with pytest.raises(MigrationError, match="lock"):
            migrate(dsn, migrations_dir=migrations, schedule=False, lock_timeout_ms=100,
                    lock_retries=1)
        # Writes were never blocked by the waiting build.
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")
            other.execute("UPDATE tasklease.test_conc SET note = note WHERE id = 2")
        writer.rollback()
    assert index_state(dsn, "test_conc_note_idx") in ("invalid", "missing")

    report = migrate(dsn, migrations_dir=migrations, schedule=False)

    assert report.applied == []
    assert report.indexes == ["test_conc_note_idx", "test_conc_id_note_idx"]
    assert index_state(dsn, "test_conc_note_idx") == "valid"


@pytest.mark.parametrize("statement", [
    "CREATE INDEX test_x_idx ON tasklease.test_conc (note);",
    "CREATE INDEX CONCURRENTLY test_x_idx ON tasklease.test_conc (note);",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS test_x_idx ON public.other (note);",
    "DROP TABLE tasklease.test_conc;",
])
def test_only_concurrent_index_builds_may_follow_the_marker(tmp_path, statement):
    migrations = with_test_migrations(
        tmp_path, ("999_test_bad.sql", f"SELECT 1;\n-- tasklease:concurrently\n{statement}\n")
    )
    with pytest.raises(MigrationError, match="999_test_bad.sql"):
        load_migrations(migrations)


def test_a_run_stopped_before_the_newest_migration_leaves_sql_alone(fresh_db):
    dsn = fresh_db()
    first = repo_versions()[0]

    report = migrate(dsn, target=first)

    assert report.applied and not report.sql_applied and report.stopped_at == first
    assert any(line.startswith("sql/: not applied") for line in report.lines())
    with psycopg.connect(dsn) as c:
        functions = c.execute(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'tasklease'::regnamespace"
        ).fetchone()[0]
    assert functions == 0, "sql/ is written for the newest schema, not this one"
    assert migrate(dsn).sql_applied

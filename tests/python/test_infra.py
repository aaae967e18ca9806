"""The test infrastructure itself: the server the tests get, and the fresh_db factory."""

from __future__ import annotations

import backend
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict


def test_server_preloads_pg_cron_for_tasklease(server_dsn):
    with psycopg.connect(server_dsn) as c:
        libs = c.execute("SHOW shared_preload_libraries").fetchone()[0]
        cron_db = c.execute("SHOW cron.database_name").fetchone()[0]
        ext = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'").fetchone()
    assert "pg_cron" in [lib.strip() for lib in libs.split(",")]
    assert cron_db == "tasklease"
    assert ext is not None, "extension pg_cron is not created in database tasklease"


def test_server_dsn_is_a_superuser_on_tasklease(server_dsn):
    with psycopg.connect(server_dsn) as c:
        db, is_super = c.execute(
            "SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert db == "tasklease"
    assert is_super is True


def test_admin_dsn_reaches_another_database(pg_backend):
    with psycopg.connect(backend.admin_dsn("postgres")) as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "postgres"
    assert pg_backend.admin_dsn("tasklease") != pg_backend.admin_dsn("postgres")


def test_fresh_db_is_empty_and_unique(fresh_db, server_dsn):
    first = fresh_db()
    second = fresh_db()
    with psycopg.connect(first) as c:
        name = c.execute("SELECT current_database()").fetchone()[0]
        relations = c.execute(
            """
            SELECT count(*) FROM pg_class AS c
            JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
            """
        ).fetchone()[0]
        schemas = [
            r[0]
            for r in c.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                "AND nspname <> 'information_schema' ORDER BY 1"
            )
        ]
        extensions = [r[0] for r in c.execute("SELECT extname FROM pg_extension ORDER BY 1")]
    with psycopg.connect(second) as c:
        other = c.execute("SELECT current_database()").fetchone()[0]
    assert name.startswith("tl_test_")
    assert name not in ("tasklease", "postgres", other)
    assert relations == 0
    assert schemas == ["public"]
    assert extensions == ["plpgsql"]


def test_database_factory_drops_what_it_created_even_with_open_sessions(pg_backend):
    factory = backend.DatabaseFactory(pg_backend, prefix="tl_drop")
    dsn = factory.create()
    name = conninfo_to_dict(dsn)["dbname"]
    lingering = psycopg.connect(dsn)  # DROP ... WITH (FORCE) must not wait for it
    try:
        factory.drop_all()
    finally:
        lingering.close()
    with psycopg.connect(pg_backend.admin_dsn("postgres")) as c:
        left = c.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert left[0] == 0
    assert factory.created == []


def test_restart_keeps_data_when_supported(pg_backend, fresh_db):
    if not pg_backend.can_restart:
        pytest.skip(f"the {pg_backend.kind} backend cannot restart its server")
    dsn = fresh_db()
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE t (x int)")
        c.execute("INSERT INTO t VALUES (42)")
    pg_backend.restart(immediate=True)
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT x FROM t").fetchone()[0] == 42

"""The one place that chooses the PostgreSQL server the Python tests run against.

In order:
  1. ``TASKLEASE_TEST_DSN`` set: use that server as is (``make test`` sets it to its throwaway
     cluster). It must be a superuser DSN to database ``tasklease`` on a server that preloads
     pg_cron with ``cron.database_name = 'tasklease'``. If ``TASKLEASE_TEST_CLUSTER_DIR`` names
     its pgcluster.sh directory too, ``Backend.restart()`` works (``make test`` sets both).
  2. ``TASKLEASE_TEST_BACKEND=docker``: build ``docker/Dockerfile`` (context: the repo root) with
     testcontainers and run it (needs a Docker engine; not available on the CI machine).
  3. otherwise (``TASKLEASE_TEST_BACKEND=local``, the default): start a private cluster with
     ``scripts/pgcluster.sh`` in a fresh ``/tmp/tasklease-pytest.*`` directory and stop and remove
     it at the end of the session.

``start()`` returns the session's :class:`Backend` (created once); ``admin_dsn(dbname)`` builds
a DSN to another database on the same server; :class:`DatabaseFactory` makes throwaway databases.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

REPO_ROOT = Path(__file__).resolve().parents[2]
PGCLUSTER = REPO_ROOT / "scripts" / "pgcluster.sh"
PGBOUNCER = REPO_ROOT / "scripts" / "pgbouncer.sh"
DOCKERFILE = "docker/Dockerfile"  # relative to REPO_ROOT, the build context
DBNAME = "tasklease"


def with_dbname(dsn: str, dbname: str) -> str:
    """The same server and credentials as ``dsn``, but database ``dbname``."""
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(dsn)
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return make_conninfo(dsn, dbname=dbname)


class Backend:
    """A running server. ``dsn`` is a superuser DSN to database ``tasklease``.

    ``cluster_dir``, when known (a pgcluster.sh directory), lets tests restart the server.
    """

    kind = "dsn"

    def __init__(self, dsn: str, cluster_dir: Optional[Path] = None) -> None:
        self.dsn = dsn
        self.cluster_dir = cluster_dir
        self._poolers: set[str] = set()

    def admin_dsn(self, dbname: str) -> str:
        return with_dbname(self.dsn, dbname)

    @property
    def can_restart(self) -> bool:
        return self.cluster_dir is not None

    def restart(self, immediate: bool = False) -> None:
        """Restart the server (``immediate``: no shutdown checkpoint, crash recovery follows)."""
        if self.cluster_dir is None:
            raise NotImplementedError(f"the {self.kind} backend cannot restart its server")
        self._pgcluster("restart", *(["--immediate"] if immediate else []))

    def _pgcluster(self, *args: str, env: Optional[dict] = None) -> None:
        cmd = ["bash", str(PGCLUSTER), *args, str(self.cluster_dir)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )

    def start_pooler(self, mode: str = "transaction") -> str:
        """A DSN to database tasklease through a PgBouncer (``mode`` pooling) started in front
        of this server by scripts/pgbouncer.sh; stopped by close().  Needs the cluster dir."""
        if self.cluster_dir is None:
            raise NotImplementedError(f"the {self.kind} backend has no cluster dir for PgBouncer")
        cmd = ["bash", str(PGBOUNCER), "start", str(self.cluster_dir), mode]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
        self._poolers.add(mode)
        env = _read_env_file(self.cluster_dir / f"pgbouncer-{mode}" / "env")
        return env["TASKLEASE_POOLER_DSN"]

    def stop_poolers(self) -> None:
        while self._poolers:
            mode = self._poolers.pop()
            subprocess.run(["bash", str(PGBOUNCER), "stop", str(self.cluster_dir), mode],
                           capture_output=True, timeout=60)

    def close(self) -> None:
        self.stop_poolers()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.dsn}>"


class LocalClusterBackend(Backend):
    """A private cluster run by scripts/pgcluster.sh (as user postgres when we are root)."""

    kind = "local"

    def __init__(self) -> None:
        self.cluster_dir = Path(tempfile.mkdtemp(prefix="tasklease-pytest.", dir="/tmp"))
        env = dict(os.environ)
        env.setdefault("TASKLEASE_PG_FAST", "1")
        try:
            self._pgcluster("start", env=env)
        except BaseException:
            shutil.rmtree(self.cluster_dir, ignore_errors=True)
            raise
        self.env = _read_env_file(self.cluster_dir / "env")
        super().__init__(self.env["TASKLEASE_DSN"], self.cluster_dir)
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.stop_poolers()
            self._pgcluster("stop")
        finally:
            shutil.rmtree(self.cluster_dir, ignore_errors=True)


class DockerBackend(Backend):
    """A container from docker/Dockerfile (pg_cron preloaded, cron.database_name=tasklease)."""

    kind = "docker"

    def __init__(self) -> None:
        from testcontainers.core.image import DockerImage

        try:  # testcontainers >= 4.14 moved the module
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # pragma: no cover - depends on the installed version
            from testcontainers.postgres import PostgresContainer

        self._image: Any = DockerImage(
            path=str(REPO_ROOT),
            dockerfile_path=DOCKERFILE,
            tag=os.environ.get("TASKLEASE_TEST_IMAGE", "tasklease-test-postgres:latest"),
        )
        self._image.build()
        self._container: Any = PostgresContainer(
            image=str(self._image),
            username="postgres",
            password="postgres",
            dbname=DBNAME,
            driver=None,
        )
        try:
            self._container.start()
            url = self._container.get_connection_url()
            _ensure_database(with_dbname(url, "postgres"), DBNAME)
            super().__init__(with_dbname(url, DBNAME))
            _ensure_pg_cron(self.dsn)
        except BaseException:
            self._container.stop()
            self._image.remove()
            raise
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._container.stop()
        finally:
            self._image.remove()


def _read_env_file(path: Path) -> dict:
    """Parse the ``export KEY=VALUE`` lines that pgcluster.sh writes."""
    env = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            env[key] = value
    return env


def _ensure_database(admin_dsn: str, dbname: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def _ensure_pg_cron(dsn: str) -> None:
    """CREATE EXTENSION pg_cron where the server preloads it (as pgcluster.sh does)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        libs = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        if "pg_cron" in [lib.strip() for lib in libs.split(",")]:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")


_current: Optional[Backend] = None


def start() -> Backend:
    """The session's backend, started on first call (see the module docstring)."""
    global _current
    if _current is not None:
        return _current
    dsn = os.environ.get("TASKLEASE_TEST_DSN")
    cluster_dir = os.environ.get("TASKLEASE_TEST_CLUSTER_DIR")
    choice = os.environ.get("TASKLEASE_TEST_BACKEND", "local").strip().lower()
    if dsn:
        backend: Backend = Backend(dsn, Path(cluster_dir) if cluster_dir else None)
    elif choice == "docker":
        backend = DockerBackend()
    elif choice in ("", "local"):
        backend = LocalClusterBackend()
    else:
        raise ValueError(f"TASKLEASE_TEST_BACKEND={choice!r}: expected 'local' or 'docker'")
    atexit.register(backend.close)  # also when the session dies before its fixtures finish
    _current = backend
    return backend


def stop() -> None:
    global _current
    if _current is not None:
        _current.close()
        _current = None


def admin_dsn(dbname: str) -> str:
    """A superuser DSN to ``dbname`` on the test server (starting the backend if needed)."""
    return start().admin_dsn(dbname)


class DatabaseFactory:
    """Creates empty, uniquely named databases on the test server; ``drop_all`` removes them."""

    def __init__(self, backend: Backend, prefix: str = "tl_test") -> None:
        self.backend = backend
        self.prefix = prefix
        self.created: list = []

    def create(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.backend.admin_dsn("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(name)
                )
            )
        self.created.append(name)
        return self.backend.admin_dsn(name)

    def drop_all(self) -> None:
        with psycopg.connect(self.backend.admin_dsn("postgres"), autocommit=True) as conn:
            while self.created:
                name = self.created.pop()
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

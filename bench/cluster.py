"""The bench's own throwaway cluster, and what is recorded about the machine and server.

The cluster is started with scripts/pgcluster.sh in a fresh mktemp directory WITHOUT
TASKLEASE_PG_FAST, so fsync, synchronous_commit and full_page_writes keep their durable
defaults.  pg_stat_statements is added to shared_preload_libraries with ALTER SYSTEM and a
restart: only in this cluster, which is stopped and removed at the end.  It tracks nothing
(pg_stat_statements.track = none) except on the profile section's own connections.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import psycopg
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parents[1]
PGCLUSTER = REPO_ROOT / "scripts" / "pgcluster.sh"

RECORDED_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "work_mem",
    "max_connections",
    "max_wal_size",
    "checkpoint_timeout",
    "autovacuum",
    "autovacuum_naptime",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_cost_limit",
    "shared_preload_libraries",
    "pg_stat_statements.track",
    "jit",
)


class BenchCluster:
    """A private cluster under /tmp; ``dsn`` is a superuser DSN to database tasklease."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tasklease-bench.", dir="/tmp"))
        self.dsn = ""

    def _pgcluster(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "TASKLEASE_PG_FAST"}
        cmd = ["bash", str(PGCLUSTER), *args, str(self.dir)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def start(self, settings: Optional[dict] = None) -> str:
        """Start, add pg_stat_statements, apply extra settings (ALTER SYSTEM); the DSN."""
        self._pgcluster("start")
        env = _read_env(self.dir / "env")
        self.dsn = env["TASKLEASE_DSN"]
        self._add_pg_stat_statements()
        if settings:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                for name, value in settings.items():
                    conn.execute(
                        sql.SQL("ALTER SYSTEM SET {} = {}").format(
                            sql.Identifier(name), sql.Literal(str(value))
                        )
                    )
                conn.execute("SELECT pg_reload_conf()")
        return self.dsn

    def _add_pg_stat_statements(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            libs = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
            names = [s.strip() for s in libs.split(",") if s.strip()]
            if "pg_stat_statements" not in names:
                names.append("pg_stat_statements")
            # a list of quoted names: one quoted string would name a single library
            libs_sql = ", ".join("'" + n.replace("'", "''") + "'" for n in names)
            conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = {libs_sql}")
        self._pgcluster("restart")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            # Known only once the library is loaded.  'none': the measured runs pay nothing
            # for it; the profile section turns it on for its own connections only.
            conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'none'")
            conn.execute("SELECT pg_reload_conf()")

    def stop(self) -> None:
        try:
            self._pgcluster("stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _read_env(path: Path) -> dict:
    env = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            env[key] = value
    return env


def try_pg_stat_statements(conn: psycopg.Connection) -> bool:
    """CREATE EXTENSION pg_stat_statements when the server preloads it; True if usable."""
    libs = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    if "pg_stat_statements" not in libs:
        return False
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except psycopg.Error:
        return False
    return True


def _fs_type(path: Optional[str]) -> Optional[str]:
    """The file system type of the mount that holds path (from /proc/mounts), if known."""
    if not path or not os.path.exists("/proc/mounts"):
        return None
    best, fstype = "", None
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and path.startswith(parts[1]) and len(parts[1]) > len(best):
            best, fstype = parts[1], parts[2]
    return fstype


def machine_info(conn: psycopg.Connection) -> dict:
    """Cores, memory, OS, PostgreSQL version and the settings that shape the numbers."""
    settings = {
        name: conn.execute("SELECT current_setting(%s, true)", (name,)).fetchone()[0]
        for name in RECORDED_SETTINGS
    }
    data_dir = None
    try:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    except psycopg.Error:
        conn.rollback() if not conn.autocommit else None
    mem_kb = None
    if os.path.exists("/proc/meminfo"):
        first = Path("/proc/meminfo").read_text().splitlines()[0].split()
        mem_kb = int(first[1])
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": conn.execute("SELECT version()").fetchone()[0],
        "data_fs": _fs_type(data_dir),
        "loadavg_start": list(os.getloadavg()),
        "settings": settings,
    }

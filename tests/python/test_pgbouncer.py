"""tasklease through PgBouncer in transaction pooling mode (Debian's pgbouncer, started by
the test harness in front of the throwaway cluster: scripts/pgbouncer.sh).

In transaction mode consecutive transactions of one client may run on different server
connections, so session state (server-side prepared statements, LISTEN, SET) does not
follow the client.  Several CLI processes at once make the server connections shared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from handlers import REPO_ROOT


def _cli(dsn: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "python"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "tasklease", *args, "--dsn", dsn],
                          capture_output=True, text=True, env=full_env, timeout=120)


def test_cli_commands_work_concurrently_through_a_transaction_pooler(dsn, conn, pooler_dsn):
    no_prepare = {"TASKLEASE_PREPARE_THRESHOLD": "none"}
    commands = [("enqueue", '{"via": "pgbouncer"}', "--queue", "pooled")] * 8 + \
        [("status", "--json"), ("reap", "--dry-run"), ("reap",)] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda a: _cli(pooler_dsn, *a, env=no_prepare), commands))
    failed = [(r.args, r.stderr) for r in results if r.returncode != 0]
    assert not failed, failed
    assert conn.execute(
        "SELECT count(*) FROM tasklease.tasks WHERE queue = 'pooled'").fetchone()[0] == 8

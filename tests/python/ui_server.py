"""Helpers of the console tests: a `tasklease ui` process, a login role, seeded tasks.

``UiServer`` runs ``python -m tasklease ui`` on a free loopback port and waits until it
answers; ``seed_every_state`` fills the queue with a task in every state the console
shows, through the SQL API (and a reaper run for the requeued one).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login_role(admin_dsn: str, name: str, group: str) -> str:
    """A LOGIN role that holds one tasklease group role; its DSN (the cluster trusts it)."""
    with psycopg.connect(admin_dsn, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        c.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
    params = conninfo_to_dict(admin_dsn)
    params.update(user=name, password=None)
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


class UiServer:
    def __init__(self, dsn: str, *args: str, log_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT / "python"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.pop("TASKLEASE_UI_TOKEN", None)
        self.log_path = log_dir / f"ui-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tasklease", "ui", "--dsn", dsn, "--port", str(self.port),
             "--log-level", "warning", *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tasklease ui exited {self.proc.returncode}:\n{self.log()}")
            try:
                urllib.request.urlopen(self.base + "/static/console.css", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers (401 with a token)
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"tasklease ui did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def get(self, path: str, headers: Optional[dict] = None) -> tuple[int, dict, str]:
        return request(self.base + path, headers=headers)

    def post(self, path: str, form: dict, headers: Optional[dict] = None
             ) -> tuple[int, dict, str]:
        from urllib.parse import urlencode

        return request(self.base + path, data=urlencode(form).encode(), headers=headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(url: str, data: Optional[bytes] = None, headers: Optional[dict] = None
            ) -> tuple[int, dict, str]:
    """(status, headers, body) without following redirects."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def seed_every_state(conn: psycopg.Connection) -> dict[str, int]:
    """One task in each state the console shows, in queues "mail" and "reports"."""
    ids: dict[str, int] = {}

    def one(sql_text: str, params=()) -> int:
        return conn.execute(sql_text, params).fetchone()[0]

    def claim(owner: str, queue: str, lease_s: int = 600):
        return conn.execute("SELECT id, lease_token FROM tasklease.claim_task(%s, %s, %s)",
                            (owner, queue, lease_s)).fetchone()

    conn.execute("SELECT tasklease.heartbeat('worker-alive')")
    conn.execute("SELECT tasklease.heartbeat('worker-gone')")
    conn.execute("UPDATE tasklease.workers SET last_heartbeat = now() - interval '1 hour' "
                 "WHERE owner_id = 'worker-gone'")
    # completed, failed, cancelled
    ids["completed"] = one("SELECT tasklease.enqueue('{\"to\": \"ada\"}', 'mail')")
    _, token = claim("worker-alive", "mail")
    conn.execute("SELECT tasklease.complete_task(%s, 'worker-alive', %s, '{\"sent\": true}')",
                 (ids["completed"], token))
    ids["failed"] = one("SELECT tasklease.enqueue('{\"to\": \"bob\"}', 'mail', now(), 0, 1)")
    _, token = claim("worker-alive", "mail")
    conn.execute("SELECT tasklease.fail_task(%s, 'worker-alive', %s, 'SMTP 550: no such user')",
                 (ids["failed"], token))
    ids["cancelled"] = one("SELECT tasklease.enqueue('{\"report\": 1}', 'reports')")
    conn.execute("SELECT tasklease.cancel_task(%s)", (ids["cancelled"],))
    # requeued by the reaper: its lease expired
    ids["requeued"] = one("SELECT tasklease.enqueue('{\"report\": 2}', 'reports')")
    claim("worker-alive", "reports")
    conn.execute("UPDATE tasklease.tasks SET lease_expires_at = now() - interval '1 minute' "
                 "WHERE id = %s", (ids["requeued"],))
    conn.execute("SELECT count(*) FROM tasklease.reap_stale_tasks()")
    # running: one held by a live worker, one by a worker that stopped heartbeating
    ids["running"] = one("SELECT tasklease.enqueue('{\"report\": 3}', 'reports')")
    claim("worker-alive", "reports")
    ids["stale"] = one("SELECT tasklease.enqueue('{\"to\": \"cy\"}', 'mail')")
    claim("worker-gone", "mail")
    # queued: runnable, and delayed
    ids["queued"] = one("SELECT tasklease.enqueue('{\"to\": \"dee\"}', 'mail')")
    ids["delayed"] = one(
        "SELECT tasklease.enqueue('{\"report\": 4}', 'reports', now() + interval '1 hour')")
    return ids

"""`make demo`: crash recovery, live.

Enqueues a few hundred tasks, starts three worker processes, kill -9's one of
them while it holds tasks, and shows in the terminal the task counts, the
workers, the tasks the dead worker still holds, and the reaper's decisions as
the live workers (reap_if_due, every reap_interval_s) or pg_cron make them,
until every task is completed.  Exits 1 if a task is lost
or completed twice.

The handler (``tasklease.demo:handle``) records the start of each execution
(task id, lease token, pid) in tasklease_demo.executions, which is how the
summary counts re-executions; the stored result names the lease token of the
one accepted completion of each task.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from .db import connect, query, resolve_dsn
from .worker.reaper import RUNS_APART

if TYPE_CHECKING:  # rich is the optional extra "demo"; imported where it is used
    from rich.console import Console, Group

QUEUE = "demo"
WORKERS = ("demo-worker-1", "demo-worker-2", "demo-worker-3")
VICTIM = "demo-worker-2"
# Short lease/TTL so that recovery is visible within the demo; production
# defaults are lease_s 600 and worker_ttl_s 60.
DEMO_SETTINGS = {"worker_ttl_s": 5, "requeue_backoff_s": 1}
LEASE_S = 120
HEARTBEAT_S = 1.0
CONCURRENCY = 4
TIME_LIMIT_S = 170

_local = threading.local()


def handle(task: Any) -> dict:
    """The demo handler: records that it started, then works for payload['ms'] milliseconds."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = connect(os.environ.get("TASKLEASE_DSN"), "demo-handler")
    conn.execute(
        "INSERT INTO tasklease_demo.executions (task_id, lease_token, pid) VALUES (%s, %s, %s)",
        (task.id, task.lease_token, os.getpid()),
    )
    deadline = time.monotonic() + task.payload["ms"] / 1000
    while time.monotonic() < deadline and not task.lease_lost.is_set():
        time.sleep(0.05)
    return {"pid": os.getpid(), "lease_token": task.lease_token}


@dataclass
class Run:
    dsn: str
    n_tasks: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    saved_settings: dict[str, int] = field(default_factory=dict)
    killed_at: float | None = None
    killed_held: list[int] = field(default_factory=list)
    recovered_at: float | None = None
    started: float = field(default_factory=time.monotonic)


def setup(conn: psycopg.Connection, run: Run) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS tasklease_demo")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tasklease_demo.executions ("
        " task_id bigint, lease_token bigint, pid int, at timestamptz DEFAULT now())"
    )
    conn.execute("TRUNCATE tasklease_demo.executions")
    conn.execute(
        "DELETE FROM tasklease.reaper_log WHERE task_id IN "
        "(SELECT id FROM tasklease.tasks WHERE queue = %s)",
        (QUEUE,),
    )
    conn.execute("DELETE FROM tasklease.tasks WHERE queue = %s", (QUEUE,))
    conn.execute("DELETE FROM tasklease.workers WHERE owner_id = ANY(%s)", (list(WORKERS),))
    for name, value in DEMO_SETTINGS.items():
        old = conn.execute("SELECT tasklease.set_setting(%s, %s)", (name, value)).fetchone()[0]
        run.saved_settings[name] = old
    payloads = [
        psycopg.types.json.Jsonb({"n": i, "ms": random.randint(400, 1400)})
        for i in range(run.n_tasks)
    ]
    conn.execute("SELECT tasklease.enqueue_many(%s, %s)", (payloads, QUEUE))


def restore(conn: psycopg.Connection, run: Run) -> None:
    for name, value in run.saved_settings.items():
        conn.execute("SELECT tasklease.set_setting(%s, %s)", (name, value))


def start_workers(run: Run) -> None:
    env = dict(os.environ, TASKLEASE_DSN=run.dsn)
    for name in WORKERS:
        run.procs[name] = subprocess.Popen(
            [
                sys.executable, "-m", "tasklease", "worker", "tasklease.demo:handle",
                "--queue", QUEUE, "--concurrency", str(CONCURRENCY), "--name", name,
                "--lease-s", str(LEASE_S), "--heartbeat-s", str(HEARTBEAT_S),
                "--log-level", "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def snapshot(conn: psycopg.Connection) -> dict[str, Any]:
    counts = {
        r["status"]: r["n"]
        for r in query(
            conn,
            "SELECT status::text, count(*) AS n FROM tasklease.tasks WHERE queue = %s "
            "GROUP BY status",
            (QUEUE,),
        )
    }
    workers = query(
        conn,
        "SELECT owner_id, state, pid, tasks_held, seconds_since_heartbeat "
        "FROM tasklease.worker_status WHERE owner_id = ANY(%s) ORDER BY owner_id",
        (list(WORKERS),),
    )
    held = query(
        conn,
        "SELECT id, lease_token, attempts, "
        " round(extract(epoch FROM lease_expires_at - now()))::int AS lease_left_s "
        "FROM tasklease.tasks WHERE status = 'running' AND owner_id = %s ORDER BY id",
        (VICTIM,),
    )
    decisions = query(
        conn,
        "SELECT to_char(l.at, 'HH24:MI:SS') AS at, l.task_id, l.action, l.reason, l.owner_id, "
        " l.actor FROM tasklease.reaper_log AS l JOIN tasklease.tasks AS t ON t.id = l.task_id "
        "WHERE t.queue = %s ORDER BY l.id DESC LIMIT 12",
        (QUEUE,),
    )
    cron = query(
        conn,
        "SELECT schedule, (SELECT to_char(max(end_time), 'HH24:MI:SS') "
        "  FROM cron.job_run_details d WHERE d.jobid = j.jobid) AS last_run "
        "FROM cron.job j WHERE jobname = 'tasklease-reaper'",
    )
    return {
        "counts": counts,
        "workers": workers,
        "held": held,
        "decisions": decisions,
        "cron": cron[0] if cron else None,
        "now": conn.execute("SELECT to_char(now(), 'HH24:MI:SS')").fetchone()[0],
    }


def render(run: Run, snap: dict[str, Any]) -> Group:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    elapsed = time.monotonic() - run.started
    counts = Table(title="tasks (queue demo)", expand=True)
    for status in ("queued", "running", "completed", "failed"):
        counts.add_column(status, justify="right")
    counts.add_row(*(str(snap["counts"].get(s, 0)) for s in ("queued", "running", "completed",
                                                              "failed")))

    workers = Table(title="workers", expand=True)
    for col in ("worker", "pid", "state", "tasks held", "last heartbeat"):
        workers.add_column(col)
    for w in snap["workers"]:
        style = {"alive": "green", "dead": "bold red", "stopped": "yellow"}.get(w["state"], "")
        killed = " (kill -9)" if w["owner_id"] == VICTIM and run.killed_at else ""
        workers.add_row(w["owner_id"], str(w["pid"]), Text(w["state"] + killed, style=style),
                        str(w["tasks_held"]), f"{w['seconds_since_heartbeat']} s ago")

    held = Table(title=f"tasks still held by {VICTIM}", expand=True)
    for col in ("task", "lease token", "attempts", "lease left"):
        held.add_column(col)
    for h in snap["held"]:
        held.add_row(str(h["id"]), str(h["lease_token"]), str(h["attempts"]),
                     f"{h['lease_left_s']} s")

    decisions = Table(title="reaper decisions (tasklease.reaper_log)", expand=True)
    for col in ("time", "task", "action", "reason", "owner", "by"):
        decisions.add_column(col)
    for d in snap["decisions"]:
        decisions.add_row(d["at"], str(d["task_id"]), d["action"], d["reason"], d["owner_id"],
                          d["actor"])

    cron = snap["cron"]
    cron_line = (
        f"pg_cron job tasklease-reaper: schedule '{cron['schedule']}', "
        f"last run {cron['last_run'] or 'not yet'} (db time {snap['now']})"
        if cron else "pg_cron: no reaper job (run: tasklease schedule)"
    )
    if run.killed_at is None:
        phase = f"waiting for {VICTIM} to hold tasks, then kill -9"
    elif run.recovered_at is None:
        phase = (f"{VICTIM} killed {time.monotonic() - run.killed_at:.0f} s ago; its tasks wait "
                 "for the reaper (owner_dead: no heartbeat for worker_ttl_s; the live workers "
                 "run it every reap_interval_s)")
    else:
        phase = (f"recovered {len(run.killed_held)} tasks in "
                 f"{run.recovered_at - run.killed_at:.0f} s; finishing the queue")
    header = Text.assemble(
        (f"tasklease demo  {elapsed:5.1f} s   ", "bold"),
        phase,
        f"\ndemo settings: lease {LEASE_S} s, heartbeat {HEARTBEAT_S:g} s, worker_ttl_s "
        f"{DEMO_SETTINGS['worker_ttl_s']} s (production defaults: lease 600 s, ttl 60 s)\n",
        cron_line,
    )
    return Group(Panel(header), counts, workers, held, decisions)


def summary(conn: psycopg.Connection, run: Run) -> tuple[bool, list[str]]:
    row = query(
        conn,
        "SELECT count(*) AS tasks, count(*) FILTER (WHERE status = 'completed') AS completed "
        "FROM tasklease.tasks WHERE queue = %s",
        (QUEUE,),
    )[0]
    ex = query(
        conn,
        "SELECT count(*) AS executions, count(DISTINCT task_id) AS tasks_run, "
        " count(*) - count(DISTINCT task_id) AS re_executions "
        "FROM tasklease_demo.executions",
    )[0]
    # Each completed task's stored result names the token of its one accepted completion.
    bad = query(
        conn,
        "SELECT count(*) AS n FROM tasklease.tasks WHERE queue = %s AND status = 'completed' "
        "AND (result->>'lease_token')::bigint IS DISTINCT FROM lease_token",
        (QUEUE,),
    )[0]["n"]
    requeued = query(
        conn,
        "SELECT count(*) AS n FROM tasklease.reaper_log AS l JOIN tasklease.tasks AS t "
        "ON t.id = l.task_id WHERE t.queue = %s AND l.action = 'requeued'",
        (QUEUE,),
    )[0]["n"]
    ok = row["completed"] == row["tasks"] == run.n_tasks and bad == 0
    deciders = sorted({r["actor"] for r in query(
        conn,
        "SELECT DISTINCT l.actor FROM tasklease.reaper_log AS l JOIN tasklease.tasks AS t "
        "ON t.id = l.task_id WHERE t.queue = %s AND l.action = 'requeued'",
        (QUEUE,),
    )})
    bound = query(conn, "SELECT tasklease._setting('worker_ttl_s') AS ttl, "
                  "tasklease._setting('reap_interval_s') AS reap")[0]
    recovery = (
        f"{run.recovered_at - run.killed_at:.1f} s" if run.recovered_at and run.killed_at
        else "n/a"
    )
    recovery += (f" (bound: worker_ttl_s {bound['ttl']} s + {RUNS_APART:g} x reap_interval_s"
                 f" {bound['reap']} s + a heartbeat; decided by"
                 f" {', '.join(deciders) or 'nobody'})")
    lines = [
        f"tasks enqueued: {run.n_tasks}, completed: {row['completed']}, lost: "
        f"{run.n_tasks - row['completed']}",
        f"executions started: {ex['executions']}; {ex['re_executions']} tasks ran twice because "
        "their first worker was killed (at-least-once)",
        f"accepted completions per task: exactly 1 ({bad} mismatches); {requeued} stale leases "
        "requeued by the reaper, their old tokens fenced off",
        f"recovery time after kill -9 (until the reaper requeued every held task): {recovery}",
    ]
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasklease.demo")
    parser.add_argument("--dsn")
    parser.add_argument("--tasks", type=int, default=300)
    args = parser.parse_args(argv)
    _require_rich()
    from rich.console import Console
    from rich.panel import Panel

    dsn = resolve_dsn(args.dsn)
    console = Console()
    run = Run(dsn=dsn, n_tasks=args.tasks)
    conn = connect(dsn, "demo")
    ok = False
    try:
        setup(conn, run)
        start_workers(run)
        ok = _watch(conn, run, console)
        okay, lines = summary(conn, run)
        ok = ok and okay
        console.print()  # the live table's last frame may end without a newline (a pipe)
        console.print(Panel("\n".join(lines), title="summary",
                            border_style="green" if ok else "red"))
    finally:
        for proc in run.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in run.procs.values():
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        restore(conn, run)
        conn.close()
    console.print(
        "\nLook around (the cluster keeps running):\n"
        f"  psql \"{dsn}\"\n"
        f"  .venv/bin/tasklease status --dsn \"{dsn}\"\n"
        "  SELECT * FROM tasklease.stale_tasks;  SELECT * FROM tasklease.reaper_log;\n"
        "Stop the cluster: make db-down"
    )
    if not ok:
        console.print("[bold red]demo FAILED: a task was lost or completed twice[/]")
    return 0 if ok else 1


def _require_rich() -> None:
    """The demo's display needs rich (extra "demo"); the handler and the rest do not."""
    try:
        import rich  # noqa: F401
    except ImportError:
        raise SystemExit(
            "tasklease demo: the display needs the 'rich' package, which is not installed: "
            "pip install 'tasklease[demo]' (make demo installs it)") from None


def _watch(conn: psycopg.Connection, run: Run, console: Console) -> bool:
    from rich.live import Live

    deadline = time.monotonic() + TIME_LIMIT_S
    last_plain = 0.0
    with Live(console=console, refresh_per_second=4, transient=False,
              auto_refresh=console.is_terminal) as live:
        while time.monotonic() < deadline:
            snap = snapshot(conn)
            _step(run, snap)
            if console.is_terminal:
                live.update(render(run, snap))
            elif time.monotonic() - last_plain > 5:
                last_plain = time.monotonic()
                console.print(
                    f"[{time.monotonic() - run.started:5.1f} s] {snap['counts']} "
                    f"held by {VICTIM}: {[h['id'] for h in snap['held']]} "
                    f"decisions: {len(snap['decisions'])}"
                )
            if snap["counts"].get("completed", 0) == run.n_tasks:
                live.update(render(run, snap))
                return True
            time.sleep(0.25)
    console.print(f"[red]time limit of {TIME_LIMIT_S} s reached[/]")
    return False


def _step(run: Run, snap: dict[str, Any]) -> None:
    if run.killed_at is None:
        if snap["held"] and snap["counts"].get("completed", 0) >= 10:
            run.procs[VICTIM].send_signal(signal.SIGKILL)
            run.procs[VICTIM].wait()
            run.killed_at = time.monotonic()
    elif not run.killed_held:
        run.killed_held = [h["id"] for h in snap["held"]]
    elif run.recovered_at is None and not snap["held"]:
        run.recovered_at = time.monotonic()


if __name__ == "__main__":
    raise SystemExit(main())

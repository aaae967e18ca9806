"""The tasklease command line.

Exit codes: 0 ok, 1 error, 2 usage (also a pooler misconfiguration), 3 worker name in use,
4 migrate installed the schema but could not schedule the reaper.  Errors are one line on
stderr, ``tasklease: error: ...``; database errors with a TL SQLSTATE are mapped
through tasklease.errors.  Every command prints an aligned table, or JSON with --json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import psycopg

from .client import Client, Snapshot
from .db import connect, query
from .errors import (
    InvalidPooling,
    InvalidWorkerConfig,
    PoolerMisconfigured,
    TaskleaseError,
    WorkerNameInUse,
)
from .migrate import migrate
from .pooling import Pooling, add_cli_options, cli_options
from .ui.cli import add_parser as _parser_ui

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NAME_IN_USE, EXIT_NOT_SCHEDULED = 0, 1, 2, 3, 4
ENQUEUE_BATCH = 1000
REAP_COLUMNS = ("task", "action", "reason", "owner", "attempts")


class UsageError(Exception):
    """Bad command-line input found after parsing (exit code 2)."""


# ------------------------------------------------------------------ helpers
def _add_dsn(p: argparse.ArgumentParser) -> None:
    """The connection options of every command: --dsn, --pooler, --listen-dsn, --no-listen
    (main() makes them the process's defaults, so every connection a command opens follows
    them)."""
    add_cli_options(p)


def _env_int(name: str) -> Optional[int]:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not an integer") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return str(value)


def _print_json(data: Any) -> None:
    print(json.dumps(data, default=_jsonable, indent=2, sort_keys=False))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def format_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """An aligned text table with a header line; "(none)" when there are no rows."""
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


# ------------------------------------------------------------------ migrate
MIGRATE_NEEDS_SESSION = (
    "migrate cannot run through a transaction-mode pooler: it holds a session-level advisory "
    "lock across its transactions (a pooler would leave it behind on a pooled server "
    "connection) and runs some files statement by statement under one session's "
    "lock_timeout. Give it a direct DSN, or a session-mode pool")


def _cmd_migrate(args: argparse.Namespace) -> int:
    if Pooling.resolve().transaction:
        raise PoolerMisconfigured(MIGRATE_NEEDS_SESSION)
    report = migrate(
        args.dsn,
        migrations_dir=args.migrations_dir,
        sql_dir=args.sql_dir,
        target=args.target,
        schedule=not args.no_schedule,
        force_sql=args.force_sql,
        lock_timeout_ms=args.lock_timeout_ms,
        log=lambda line: print(line, file=sys.stderr) if "retrying" in line else None,
    )
    for line in report.lines():
        print(line)
    return EXIT_NOT_SCHEDULED if report.cron == "failed" else EXIT_OK


# ------------------------------------------------------------------ enqueue
def _parse_payload(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON: {exc}") from None


def _stdin_payloads() -> Iterator[Any]:
    for n, line in enumerate(sys.stdin, 1):
        if line.strip():
            yield _parse_payload(line, f"stdin line {n}")


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run_after(value: Optional[str]) -> dict[str, Any]:
    """--run-after: seconds from now (a number; counted on the database's clock) or a
    timestamp PostgreSQL understands."""
    if value is None:
        return {}
    try:
        return {"delay_s": float(value)}
    except ValueError:
        return {"run_after": value}


def _enqueue_unique(args: argparse.Namespace) -> int:
    """--dedupe-key: one payload; its id, and a note on stderr when a task held the key."""
    if args.payload == "-":
        raise UsageError("--dedupe-key takes one PAYLOAD_JSON, not '-'")
    with Client(args.dsn, app="enqueue") as client:
        result = client.enqueue_unique(
            _parse_payload(args.payload, "PAYLOAD_JSON"), args.dedupe_key, args.queue,
            dedupe_for=args.dedupe_for, priority=args.priority,
            max_attempts=args.max_attempts, **_run_after(args.run_after),
        )
    print(result.id)
    if not result.created:
        print(f"tasklease: task {result.id} holds dedupe key {args.dedupe_key!r}: "
              "nothing added", file=sys.stderr)
    return EXIT_OK


def _cmd_enqueue(args: argparse.Namespace) -> int:
    if args.dedupe_key is not None:
        return _enqueue_unique(args)
    if args.payload == "-":
        payloads: Iterator[Any] = _stdin_payloads()
    else:
        payloads = iter([_parse_payload(args.payload, "PAYLOAD_JSON")])
    when = _run_after(args.run_after)
    progress = args.payload == "-" and sys.stderr.isatty()
    total = 0
    with Client(args.dsn, app="enqueue") as client:
        for batch in _batches(payloads, ENQUEUE_BATCH):
            ids = client.enqueue_many(batch, args.queue, priority=args.priority,
                                      max_attempts=args.max_attempts, **when)
            for task_id in ids:
                print(task_id)
            total += len(ids)
            if progress:
                print(f"\renqueued {total}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------- status
def _status_data(snap: Snapshot) -> dict:
    """The snapshot as the rows `status` prints (and --json emits), under its column names."""
    return {
        "tasks": [{"queue": c.queue, "status": c.status, "tasks": c.tasks} for c in snap.counts],
        "queues": [{"queue": q.queue, "state": q.state, "max_running": q.max_running,
                    "queued": q.queued, "runnable": q.runnable, "running": q.running}
                   for q in snap.queues],
        "workers": [{"worker": w.owner_id, "state": w.state, "tasks_held": w.tasks_held,
                     "since_heartbeat_s": w.seconds_since_heartbeat, "host": w.host,
                     "pid": w.pid} for w in snap.workers],
        "stale_tasks": [{"task": s.task_id, "action": s.action, "reason": s.reason,
                         "owner": s.owner_id, "attempts": s.attempts,
                         "requeue_count": s.requeue_count, "queue": s.queue}
                        for s in snap.stale],
        "reaper_log": [{"at": r.at, "task": r.task_id, "action": r.action, "reason": r.reason,
                        "owner": r.owner_id, "attempts": r.attempts, "actor": r.actor}
                       for r in snap.reaper_log],
    }


_STATUS_SECTIONS = {
    "tasks": ("tasks per queue and status", ("queue", "status", "tasks")),
    "queues": ("queues (paused: hands out nothing; at_limit: max_running tasks running)",
               ("queue", "state", "max_running", "queued", "runnable", "running")),
    "workers": ("workers", ("worker", "state", "tasks_held", "since_heartbeat_s", "host", "pid")),
    "stale_tasks": ("stale tasks (what the reaper would do now)",
                    ("task", "action", "reason", "owner", "attempts", "requeue_count", "queue")),
    "reaper_log": ("recent reaper actions",
                   ("at", "task", "action", "reason", "owner", "attempts", "actor")),
}


def _print_status(data: dict) -> None:
    for key, (title, columns) in _STATUS_SECTIONS.items():
        print(f"== {title}")
        print(format_table(data[key], columns))
        print()


def _cmd_status(args: argparse.Namespace) -> int:
    with Client(args.dsn, app="status") as client:
        while True:
            data = _status_data(client.snapshot(args.recent))
            if args.json:
                _print_json(data)
            else:
                if args.watch and sys.stdout.isatty():
                    print("\033[H\033[2J", end="")
                _print_status(data)
            if not args.watch:
                return EXIT_OK
            sys.stdout.flush()
            time.sleep(args.watch)


# ------------------------------------------------------ reap, cleanup-stale
def _print_actions(rows: list[dict], dry_run: bool, as_json: bool, what: str) -> None:
    actions = [
        {"task": r["task_id"], "action": r["action"], "reason": r["reason"],
         "owner": r["owner_id"], "attempts": r["attempts"]}
        for r in rows
    ]
    if as_json:
        _print_json({"dry_run": dry_run, "actions": actions})
        return
    verb = "would act on" if dry_run else "acted on"
    print(f"{what}: {verb} {len(actions)} task(s)" + (" (dry run, nothing changed)"
                                                       if dry_run else ""))
    if actions:
        print(format_table(actions, REAP_COLUMNS))


def _cmd_reap(args: argparse.Namespace) -> int:
    batch = args.batch if args.batch is not None else _env_int("TASK_REAP_BATCH")
    with connect(args.dsn, "reap") as conn:
        rows = query(conn, "SELECT * FROM tasklease.reap_stale_tasks(%s, %s)",
                      (batch, args.dry_run))
    _print_actions(rows, args.dry_run, args.json, "reap")
    return EXIT_OK


def _cmd_cleanup(args: argparse.Namespace) -> int:
    stale_s = args.stale_s if args.stale_s is not None else _env_int("TASK_STALE_S")
    max_requeue = (args.max_requeue if args.max_requeue is not None
                   else _env_int("TASK_MAX_REQUEUE"))
    batch = args.batch if args.batch is not None else _env_int("TASK_REAP_BATCH")
    with connect(args.dsn, "cleanup-stale") as conn:
        rows = query(conn, "SELECT * FROM tasklease.cleanup_stale_tasks(%s, %s, %s, %s)",
                      (stale_s, max_requeue, batch, args.dry_run))
    _print_actions(rows, args.dry_run, args.json, "cleanup-stale")
    return EXIT_OK


# ----------------------------------------------------------------- schedule
def _cmd_schedule(args: argparse.Namespace) -> int:
    with connect(args.dsn, "schedule") as conn:
        if args.off:
            existed = query(conn, "SELECT tasklease.unschedule_reaper() AS v")[0]["v"]
            change = {"action": "unscheduled" if existed else "not scheduled"}
        else:
            job = query(conn, "SELECT tasklease.schedule_reaper(%s, %s) AS v",
                         (args.every, args.run_as))[0]["v"]
            change = {"action": "scheduled", "reaper_job": job}
        jobs = query(conn, "SELECT jobid, jobname, schedule, username, active, command "
                            "FROM cron.job WHERE jobname LIKE 'tasklease%%' ORDER BY jobid")
    if args.json:
        _print_json({**change, "jobs": jobs})
        return EXIT_OK
    print(f"reaper: {change['action']}")
    print(format_table(jobs, ("jobid", "jobname", "schedule", "username", "active", "command")))
    return EXIT_OK


# ------------------------------------------------------------------- worker
def load_handler(spec: str) -> Callable[..., Any]:
    """MODULE:FUNCTION (the current directory is importable, as with python -m)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"handler {spec!r}: expected MODULE:FUNCTION")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"handler {spec!r}: cannot import {module_name}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"handler {spec!r}: {module_name} has no attribute {attr}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"handler {spec!r} is not callable")
    return obj


def _cmd_worker(args: argparse.Namespace) -> int:
    """The threaded Worker for a function, the AsyncWorker for a coroutine function."""
    from .aio import AsyncWorker, is_async_handler
    from .worker import Worker

    handler = load_handler(args.handler)
    lease_s = args.lease_s if args.lease_s is not None else _env_int("TASK_LEASE_S")
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    options = dict(
        queue=args.queue, concurrency=args.concurrency, name=args.name,
        lease_s=lease_s, renew_every_s=args.renew_every_s, heartbeat_s=args.heartbeat_s,
        poll_interval_s=args.poll_interval_s, grace_s=args.grace_s,
        metrics_port=args.metrics_port, prefetch=args.prefetch,
    )
    if is_async_handler(handler):
        import asyncio

        return asyncio.run(AsyncWorker(args.dsn, handler, **options).run())
    return Worker(args.dsn, handler, **options).run()


# ------------------------------------------------------------------- parser
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _parser_migrate(sub: Any) -> None:
    p = sub.add_parser("migrate", help="apply migrations and sql/ (idempotent)")
    _add_dsn(p)
    p.add_argument("--no-schedule", action="store_true", help="do not schedule the reaper")
    p.add_argument("--force-sql", action="store_true", help="re-apply sql/ even if unchanged")
    p.add_argument("--target", type=int,
                   help="stop after this migration version (sql/ is applied only with the newest)")
    p.add_argument("--lock-timeout-ms", type=int, default=5000,
                   help="lock_timeout of each step; retried with backoff (default 5000)")
    p.add_argument("--migrations-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--sql-dir", type=Path, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_migrate)


def _parser_enqueue(sub: Any) -> None:
    p = sub.add_parser("enqueue", help="add tasks; prints their ids")
    _add_dsn(p)
    p.add_argument("payload", metavar="PAYLOAD_JSON",
                   help="the payload as JSON; '-' reads one JSON document per line from stdin")
    p.add_argument("--queue", default="default")
    p.add_argument("--run-after", metavar="T",
                   help="seconds from now, or a timestamp (e.g. 2030-01-01T00:00:00Z)")
    p.add_argument("--priority", type=int, default=0, help="lower runs first")
    p.add_argument("--max-attempts", type=_positive_int)
    p.add_argument("--dedupe-key", metavar="KEY",
                   help="add nothing while a queued or running task of the queue holds KEY "
                        "(its id is printed instead)")
    p.add_argument("--dedupe-for", type=float, metavar="S",
                   help="with --dedupe-key: a task that finished less than S seconds ago "
                        "holds its key too")
    p.set_defaults(func=_cmd_enqueue)


def _parser_status(sub: Any) -> None:
    p = sub.add_parser("status", help="tasks per queue/status, workers, stale tasks, reaper log")
    _add_dsn(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--watch", type=_positive_float, metavar="S", help="refresh every S seconds")
    p.add_argument("--recent", type=_positive_int, default=20, help="reaper log rows to show")
    p.set_defaults(func=_cmd_status)


def _parser_reap(sub: Any) -> None:
    p = sub.add_parser("reap", help="run the reaper once (requeue or fail stale tasks)")
    _add_dsn(p)
    p.add_argument("--dry-run", action="store_true", help="show what it would do")
    p.add_argument("--batch", type=_positive_int, help="default: TASK_REAP_BATCH, else setting")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_reap)


def _parser_cleanup(sub: Any) -> None:
    p = sub.add_parser("cleanup-stale",
                       help="emergency, time-based requeue of tasks not renewed for stale_s")
    _add_dsn(p)
    p.add_argument("--dry-run", action="store_true", help="show what it would do")
    p.add_argument("--stale-s", type=_positive_int, help="default: TASK_STALE_S, else setting")
    p.add_argument("--max-requeue", type=int, help="default: TASK_MAX_REQUEUE, else setting")
    p.add_argument("--batch", type=_positive_int, help="default: TASK_REAP_BATCH, else setting")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_cleanup)


def _parser_schedule(sub: Any) -> None:
    p = sub.add_parser("schedule", help="schedule (or --off: unschedule) the reaper in pg_cron")
    _add_dsn(p)
    p.add_argument("--every", metavar="SCHEDULE",
                   help="cron schedule, e.g. '* * * * *' (default: the finest pg_cron allows)")
    p.add_argument("--run-as", metavar="ROLE",
                   help="LOGIN role pg_cron runs the jobs as (bound its statement_timeout; "
                        "default: the owner of the tasklease functions)")
    p.add_argument("--off", action="store_true", help="remove the tasklease pg_cron jobs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_schedule)


def _parser_worker(sub: Any) -> None:
    p = sub.add_parser("worker", help="run tasks with MODULE:FUNCTION until SIGTERM/SIGINT "
                                      "(an async def FUNCTION runs on asyncio)")
    _add_dsn(p)
    p.add_argument("handler", metavar="MODULE:FUNCTION")
    p.add_argument("--queue", help="only this queue (default: every queue)")
    p.add_argument("--concurrency", type=_positive_int, default=1)
    p.add_argument("--prefetch", type=_non_negative_int, metavar="N",
                   help="claim up to N tasks beyond the free slots while handlers take under "
                        "10 ms on average; given back unstarted after 1 s behind busy "
                        "slots (default: the concurrency, at least 8; 0: never)")
    p.add_argument("--name", help="worker name (default: <host>-<first free slot>)")
    p.add_argument("--lease-s", type=_positive_int, help="default: TASK_LEASE_S, else setting")
    p.add_argument("--grace-s", type=float, default=30.0,
                   help="seconds running handlers may finish after SIGTERM (default 30)")
    p.add_argument("--renew-every-s", type=_positive_float, help="default: a third of the lease")
    p.add_argument("--heartbeat-s", type=_positive_float, default=5.0)
    p.add_argument("--poll-interval-s", type=_positive_float, default=1.0)
    p.add_argument("--metrics-port", type=int, metavar="P",
                   help="serve Prometheus metrics on this port")
    p.add_argument("--log-level", default="info",
                   choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=_cmd_worker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tasklease", description="Postgres-native task queue with fenced leases."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_parser_migrate, _parser_enqueue, _parser_status, _parser_reap,
                _parser_cleanup, _parser_schedule, _parser_worker, _parser_ui):
        add(sub)
    from . import periodic_cli  # its own module; imports this one's helpers

    periodic_cli.add_parser(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with cli_options(args):
            return args.func(args)
    except BrokenPipeError:
        # The reader went away (`tasklease status | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UsageError, InvalidWorkerConfig, InvalidPooling, PoolerMisconfigured) as exc:
        print(f"tasklease: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except WorkerNameInUse as exc:
        print(f"tasklease: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_NAME_IN_USE
    except TaskleaseError as exc:
        print(f"tasklease: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except psycopg.OperationalError as exc:
        print(f"tasklease: error: cannot connect: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except psycopg.Error as exc:
        print(f"tasklease: error: database error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())

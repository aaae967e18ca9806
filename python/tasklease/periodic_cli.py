"""tasklease periodic add|list|remove: periodic tasks, each a pg_cron job that enqueues one
task per tick of its schedule (tasklease.schedule_task, unschedule_task, periodic_tasks).

Registered by cli.build_parser through add_parser(); errors go through cli.main like every
other command's (TL codes mapped by tasklease.errors, exit code 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from psycopg.types.json import Jsonb

from .cli import EXIT_OK, UsageError, format_table
from .db import connect, query
from .pooling import add_cli_options

LIST_COLUMNS = ("name", "schedule", "queue", "active", "run_as", "last_tick", "last_task_id",
                "payload")
LIST_SQL = (
    "SELECT name, schedule, queue, payload, priority, max_attempts, jobid, run_as, active, "
    "last_tick, last_task_id FROM tasklease.periodic_tasks"
)


def add_parser(sub: Any) -> None:
    """Add the `periodic` command and its add, list and remove subcommands to sub."""
    p = sub.add_parser("periodic", help="periodic tasks: pg_cron jobs that enqueue a task "
                                        "once per tick of a schedule")
    commands = p.add_subparsers(dest="periodic_command", metavar="{add,list,remove}",
                                required=True)

    add = commands.add_parser("add", help="add a periodic task, or update the one of that name")
    _common(add)
    add.add_argument("name", help="1 to 63 letters, digits and _ . : - (its pg_cron job is "
                                  "tasklease-periodic:NAME)")
    add.add_argument("schedule", help="cron syntax in pg_cron's time zone, e.g. '0 3 * * *' "
                                      "or '@hourly'; '<1-59> seconds' on pg_cron 1.5+")
    add.add_argument("payload", metavar="PAYLOAD_JSON", nargs="?", default="{}",
                     help="the payload of each task (default {})")
    add.add_argument("--queue", default="default")
    add.add_argument("--priority", type=int, default=0, help="lower runs first")
    add.add_argument("--max-attempts", type=int)
    add.set_defaults(func=_cmd_add)

    lst = commands.add_parser("list", help="the periodic tasks and their pg_cron jobs")
    _common(lst)
    lst.set_defaults(func=_cmd_list)

    remove = commands.add_parser("remove", help="remove a periodic task and its pg_cron job")
    _common(remove)
    remove.add_argument("name")
    remove.set_defaults(func=_cmd_remove)


def _common(p: argparse.ArgumentParser) -> None:
    add_cli_options(p)  # --dsn, --pooler, ... as every other command
    p.add_argument("--json", action="store_true")


def _cmd_add(args: argparse.Namespace) -> int:
    try:
        payload = Jsonb(json.loads(args.payload))
    except json.JSONDecodeError as exc:
        raise UsageError(f"PAYLOAD_JSON: not valid JSON: {exc}") from None
    with connect(args.dsn, "periodic") as conn:
        job = query(conn, "SELECT tasklease.schedule_task(%s, %s, %s, %s, %s, %s) AS job",
                    (args.name, args.schedule, payload, args.queue, args.priority,
                     args.max_attempts))[0]["job"]
        rows = query(conn, LIST_SQL + " WHERE name = %s", (args.name,))
    if args.json:
        _print_json({"job": job, "periodic_task": rows[0]})
    else:
        row = rows[0]
        print(f"periodic task {row['name']}: pg_cron job {job} "
              f"(tasklease-periodic:{row['name']}), schedule {row['schedule']!r}, "
              f"queue {row['queue']}, runs as {row['run_as']}")
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    with connect(args.dsn, "periodic") as conn:
        rows = query(conn, LIST_SQL + " ORDER BY name")
    if args.json:
        _print_json(rows)
    else:
        print(format_table(rows, LIST_COLUMNS))
    return EXIT_OK


def _cmd_remove(args: argparse.Namespace) -> int:
    with connect(args.dsn, "periodic") as conn:
        existed = query(conn, "SELECT tasklease.unschedule_task(%s) AS v", (args.name,))[0]["v"]
    if args.json:
        _print_json({"name": args.name, "removed": existed})
    else:
        print(f"periodic task {args.name}: " + ("removed" if existed else "not found"))
    return EXIT_OK


def _print_json(data: Any) -> None:
    def default(value: Any) -> Any:
        return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else str(value)

    print(json.dumps(data, default=default, indent=2))

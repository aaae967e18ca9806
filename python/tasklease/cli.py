"""The tasklease command line.  Exit codes: 0 ok, 1 error, 2 usage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

from .errors import TaskleaseError
from .migrate import migrate

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _add_dsn(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dsn",
        help="connection string (default: TASKLEASE_DSN, DATABASE_URL, then libpq PG* variables)",
    )


def _cmd_migrate(args: argparse.Namespace) -> int:
    report = migrate(
        args.dsn,
        migrations_dir=args.migrations_dir,
        sql_dir=args.sql_dir,
        target=args.target,
        schedule=not args.no_schedule,
        force_sql=args.force_sql,
    )
    for line in report.lines():
        print(line)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tasklease", description="Postgres-native task queue with fenced leases."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply migrations and sql/ (idempotent)")
    _add_dsn(p)
    p.add_argument("--no-schedule", action="store_true", help="do not schedule the reaper")
    p.add_argument("--force-sql", action="store_true", help="re-apply sql/ even if unchanged")
    p.add_argument("--target", type=int, help="stop after this migration version")
    p.add_argument("--migrations-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--sql-dir", type=Path, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TaskleaseError as exc:
        print(f"tasklease: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except psycopg.OperationalError as exc:
        print(f"tasklease: cannot connect: {exc}".rstrip(), file=sys.stderr)
        return EXIT_ERROR
    except psycopg.Error as exc:
        print(f"tasklease: database error: {exc}".rstrip(), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130

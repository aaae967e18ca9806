"""Connections: DSN resolution and application_name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .errors import from_psycopg

DSN_ENV = ("TASKLEASE_DSN", "DATABASE_URL")
PREPARE_ENV = "TASKLEASE_PREPARE_THRESHOLD"


def resolve_dsn(dsn: str | None = None) -> str:
    """--dsn, else TASKLEASE_DSN, else DATABASE_URL, else "" (libpq's PG* variables)."""
    if dsn:
        return dsn
    for name in DSN_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return ""


def prepare_threshold() -> int | None:
    """psycopg's prepare_threshold: TASKLEASE_PREPARE_THRESHOLD, "none" turns server-side
    prepared statements off (PgBouncer in transaction mode before 1.21); default 5."""
    value = os.environ.get(PREPARE_ENV, "").strip().lower()
    if not value:
        return 5
    if value in ("none", "off", "0"):
        return None
    try:
        return max(int(value), 0)
    except ValueError:
        raise ValueError(f"{PREPARE_ENV} must be a number or 'none', got {value!r}") from None


def connect(dsn: str | None, app: str, autocommit: bool = True, **kwargs) -> psycopg.Connection:
    """A psycopg connection whose application_name is tasklease:<app>."""
    conn = psycopg.connect(
        resolve_dsn(dsn),
        autocommit=autocommit,
        application_name=f"tasklease:{app}"[:63],
        **kwargs,
    )
    conn.prepare_threshold = prepare_threshold()
    return conn


def query(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict]:
    """Rows of one statement as dicts (none for a statement without a result)."""
    with translate_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise database errors with a TL SQLSTATE as tasklease exceptions."""
    try:
        yield
    except psycopg.Error as exc:
        mapped = from_psycopg(exc)
        if mapped is exc:
            raise
        raise mapped from exc

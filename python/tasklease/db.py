"""Connections: DSN resolution and application_name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from .errors import from_psycopg

DSN_ENV = ("TASKLEASE_DSN", "DATABASE_URL")


def resolve_dsn(dsn: str | None = None) -> str:
    """--dsn, else TASKLEASE_DSN, else DATABASE_URL, else "" (libpq's PG* variables)."""
    if dsn:
        return dsn
    for name in DSN_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return ""


def connect(dsn: str | None, app: str, autocommit: bool = True, **kwargs) -> psycopg.Connection:
    """A psycopg connection whose application_name is tasklease:<app>."""
    return psycopg.connect(
        resolve_dsn(dsn),
        autocommit=autocommit,
        application_name=f"tasklease:{app}"[:63],
        **kwargs,
    )


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

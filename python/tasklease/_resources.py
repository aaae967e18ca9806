"""Where the SQL files live: inside the wheel, or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _find(packaged: str, checkout: str) -> Path:
    inside = _HERE / packaged  # installed from a wheel: tasklease/_sql, tasklease/_migrations
    if inside.is_dir():
        return inside
    source = _HERE.parent.parent / checkout  # editable install: <repo>/python/tasklease
    if source.is_dir():
        return source
    raise FileNotFoundError(f"tasklease: cannot find the {checkout}/ folder (looked in {inside})")


def migrations_dir() -> Path:
    return _find("_migrations", "migrations")


def sql_dir() -> Path:
    return _find("_sql", "sql")

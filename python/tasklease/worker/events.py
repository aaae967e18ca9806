"""Structured log lines of the worker: ``event=<name> key=value ...`` (logger tasklease.worker).

Pure: no I/O beyond the logger the caller passes the line to.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("tasklease.worker")


def kv(event: str, **fields: Any) -> str:
    """One structured log line: event=... key=value ..., values quoted when needed."""
    parts = [f"event={event}"]
    for key, value in fields.items():
        text = "-" if value is None else str(value)
        if not text or any(c in text for c in ' "=\n\t'):
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The exception's message on one line, cut to limit characters (its type if empty)."""
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the log line
        text = ""
    return text[:limit] or type(exc).__name__


def info(event: str, **fields: Any) -> None:
    """log.info(kv(event, ...)), formatted only when INFO is enabled: the per-task lines
    (claim, completed) cost nothing at --log-level warning."""
    if log.isEnabledFor(logging.INFO):
        log.info(kv(event, **fields))

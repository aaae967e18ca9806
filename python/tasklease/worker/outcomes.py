"""What a handler did, turned into something the database will store.  Pure: no threads, no
I/O, so that any worker flavour shares it.

A handler may return anything and raise anything.  A return value becomes a success only
when it is strict JSON that jsonb can hold (no NaN or infinity, no NUL character, no lone
surrogate, nothing json cannot encode); anything else becomes a failure whose error text
starts with "result is not storable as jsonb: ".  An exception, BaseException included,
becomes a failure whose text names it, even when its own __str__ or traceback raises.
Every error text is made storable (NUL and surrogates escaped) and cut to a bounded length.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from .task import Task

T = TypeVar("T")

UNSTORABLE = "result is not storable as jsonb: "
ERROR_MAX_CHARS = 8000  # the database cuts further, to its max_error_len setting
TRACE_FRAMES = 3
# A \u0000 escape in JSON text: preceded by an even number of backslashes (escaped ones).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Outcome:
    """The end of one execution: ok with a JSON text result (None for SQL NULL), or a
    failure with an error text."""

    task: Task
    ok: bool
    result: Optional[str] = None
    error: str = ""


class UnstorableResult(ValueError):
    """A handler's return value that jsonb cannot hold; the message says why."""


def outcome_of_return(task: Task, value: Any) -> Outcome:
    """A success when value is storable, else a failure saying why it is not."""
    try:
        return Outcome(task, True, encode_result(value))
    except UnstorableResult as exc:
        return Outcome(task, False, error=storable_text(UNSTORABLE + str(exc)))


def outcome_of_exception(task: Task, exc: BaseException) -> Outcome:
    """A failure whose error text names exc (whatever exc's own methods do)."""
    return Outcome(task, False, error=storable_text(describe_exception(exc)))


def refused(outcome: Outcome, reason: str) -> Outcome:
    """The failure of a result the database refused to store (too large, invalid)."""
    return Outcome(outcome.task, False, error=storable_text(UNSTORABLE + reason))


def encode_result(value: Any) -> Optional[str]:
    """The JSON text of value (None for None, stored as SQL NULL); UnstorableResult when
    jsonb could not hold it."""
    if value is None:
        return None
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except BaseException as exc:  # noqa: BLE001 - value's own methods may raise anything
        raise UnstorableResult(_short(exc)) from None
    if _NUL_ESCAPE.search(text):
        raise UnstorableResult("a string contains a NUL character (\\u0000)")
    bad = _SURROGATE.search(text)
    if bad:
        raise UnstorableResult(
            f"a string contains a lone surrogate (\\u{ord(bad.group()):04x}), not valid Unicode")
    return text


def describe_exception(exc: BaseException) -> str:
    """'Type: message' and the last frames of its traceback; never raises."""
    name = _safely(lambda: str(type(exc).__name__), "exception")
    message = _safely(lambda: str(exc), f"<{name}.__str__ raised>")
    frames = _safely(
        lambda: "".join(traceback.format_tb(exc.__traceback__)[-TRACE_FRAMES:]), "")
    head = f"{name}: {message}" if message else name
    return f"{head}\n{frames}".rstrip() if frames else head


def storable_text(text: str, limit: int = ERROR_MAX_CHARS) -> str:
    """text as PostgreSQL can store it: NUL and lone surrogates escaped, and cut in the
    middle (keeping its start and its end, where the last frames are) beyond limit."""
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    marker = f"\n[... {len(text) - limit} characters cut ...]\n"
    keep = max(limit - len(marker), 0)
    return text[: keep // 2] + marker + text[len(text) - (keep - keep // 2):]


def _short(exc: BaseException) -> str:
    name = _safely(lambda: type(exc).__name__, "exception")
    message = _safely(lambda: " ".join(str(exc).split()), "")
    return f"{name}: {message}" if message else name


def _safely(fn: Callable[[], T], fallback: T) -> T:
    try:
        return fn()
    except BaseException:  # noqa: BLE001 - describing a failure must not fail
        return fallback

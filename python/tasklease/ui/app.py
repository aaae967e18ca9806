"""The console's ASGI app: routes, pages and actions (Starlette + Jinja2, server-rendered).

Routes (stable: scripts and bookmarks rely on them):
  GET  /                          overview
  GET  /tasks                     list (?queue=&status=&before=)
  GET  /tasks/<id>                one task and its timeline
  POST /tasks/<id>/<action>       retry, cancel, run-now, take-back (form: csrf, lease_token)
  GET  /workers, /reaper          workers; reaper decisions (?action=&reason=&before=)
  GET  /metrics                   Prometheus text

Page handlers are plain methods (Starlette runs them in its thread pool) that borrow a
connection from a small psycopg pool.  Every response says how long the server took in a
Server-Timing header (``app;dur=<ms>``), which the benchmark reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlencode

import psycopg
from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..db import prepare_threshold, resolve_dsn
from . import data, metrics, plots, words
from .security import AuthMiddleware, Guard

HERE = Path(__file__).resolve().parent
log = logging.getLogger("tasklease.ui")


class ConsoleError(Exception):
    """A request the console refuses: an HTTP status and a stable code for the page."""

    def __init__(self, status: int, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.status, self.code, self.detail = status, code, detail


# ------------------------------------------------------------------ formatting
def fmt_age(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = abs(float(seconds))
    if s < 90:
        text = f"{s:.0f} s"
    elif s < 5400:
        text = f"{s / 60:.0f} min"
    elif s < 172800:
        text = f"{s / 3600:.1f} h"
    else:
        text = f"{s / 86400:.1f} d"
    return text if float(seconds) >= 0 else f"-{text}"


def fmt_count(n: Any, limit: int = data.COUNT_LIMIT) -> str:
    if n is None:
        return "-"
    return f"{n:,}+" if n >= limit else f"{n:,}"


def fmt_time(value: Optional[dt.datetime]) -> str:
    if value is None:
        return "-"
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters.update(age=fmt_age, count=fmt_count, time=fmt_time, json=fmt_json,
                         reason_words=words.reason, action_words=words.action)
    return t


# ------------------------------------------------------------------ the app
class Console:
    """The pages and actions, around one connection pool."""

    def __init__(self, dsn: Optional[str], read_only: bool, guard: Guard,
                 pool_size: int = 4) -> None:
        self.dsn, self.read_only, self.guard = dsn, read_only, guard
        self.pool_size = pool_size
        self.pool: Optional[ConnectionPool] = None
        self.templates = _templates()

    # -- connections
    def open(self) -> None:
        def configure(conn: psycopg.Connection) -> None:
            conn.prepare_threshold = prepare_threshold()
            conn.execute("SET jit = off")  # the console's queries are short; JIT only costs

        self.pool = ConnectionPool(
            resolve_dsn(self.dsn), min_size=1, max_size=self.pool_size, open=False,
            kwargs={"autocommit": True, "application_name": "tasklease:ui"},
            configure=configure, name="tasklease-ui",
        )
        self.pool.open(wait=True, timeout=30)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    @contextlib.contextmanager
    def conn(self):
        assert self.pool is not None, "the console's pool is not open"
        with self.pool.connection() as conn:
            yield conn

    def render(self, request: Request, name: str, http_status: int = 200, **ctx: Any) -> Response:
        ctx.setdefault("caps", None)
        ctx.update(read_only=self.read_only, csrf=self.guard.csrf_token, path=request.url.path)
        return self.templates.TemplateResponse(request, name, ctx, status_code=http_status)

    # -- pages
    def overview(self, request: Request) -> Response:
        with self.conn() as conn:
            caps = data.capabilities(conn, self.read_only)
            queues = data.queues(conn)
            per_minute = data.throughput(conn)
            stale = data.stale_tasks(conn, limit=10)
            ctx = dict(
                caps=caps, queues=queues, stale=stale,
                stale_total=sum(q["stale"] for q in queues),
                workers=data.worker_states(conn),
                reaper_job=data.reaper_job(conn) if caps.cron else None,
                per_minute_svg=plots.per_minute_bars(
                    per_minute, (("completed", "ok"), ("failed", "bad")),
                    "completed and failed tasks per minute, last hour"),
                oldest_svg=plots.horizontal_bars(
                    [(q["queue"], float(q["oldest_runnable_s"])) for q in queues
                     if q["oldest_runnable_s"] is not None],
                    "s", "age of the oldest runnable task per queue"),
                finished_last_hour={k: sum(p[k] for p in per_minute)
                                    for k in ("completed", "failed")},
            )
        return self.render(request, "overview.html", **ctx)

    def tasks(self, request: Request) -> Response:
        q = request.query_params
        queue = q.get("queue") or None
        status = q.get("status") or None
        if status is not None and status not in data.STATUSES:
            raise ConsoleError(400, "bad-status", f"status must be one of {data.STATUSES}")
        before = _int(q.get("before"), "before")
        with self.conn() as conn:
            caps = data.capabilities(conn, self.read_only)
            page = data.task_page(conn, queue, status, before)
            queue_names = [r["queue"] for r in data.queues(conn, count_limit=0)]
        older = None
        if len(page) == data.PAGE_SIZE:
            older = "/tasks?" + urlencode({k: v for k, v in (
                ("queue", queue), ("status", status), ("before", page[-1]["id"])) if v})
        return self.render(request, "tasks.html", caps=caps, page=page, queue=queue,
                           status=status, before=before, queue_names=queue_names,
                           statuses=data.STATUSES, older=older)

    def task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        with self.conn() as conn:
            caps = data.capabilities(conn, self.read_only)
            task = data.task(conn, task_id)
            if task is None:
                raise ConsoleError(404, "no-such-task", f"task {task_id} does not exist")
            events = data.timeline(conn, task_id)
        actions = [a for a, states in data.APPLIES.items() if task["status"] in states]
        return self.render(request, "task.html", caps=caps, task=task, events=events,
                           actions=actions, done=request.query_params.get("done"),
                           changed=request.query_params.get("changed"))

    def workers(self, request: Request) -> Response:
        with self.conn() as conn:
            caps = data.capabilities(conn, self.read_only)
            workers = data.workers(conn)
        return self.render(request, "workers.html", caps=caps, workers=workers)

    def reaper(self, request: Request) -> Response:
        q = request.query_params
        action = q.get("action") or None
        reason = q.get("reason") or None
        if action is not None and action not in words.ACTIONS:
            raise ConsoleError(400, "bad-action", "unknown action")
        if reason is not None and reason not in words.REASONS:
            raise ConsoleError(400, "bad-reason", "unknown reason")
        before = _int(q.get("before"), "before")
        with self.conn() as conn:
            caps = data.capabilities(conn, self.read_only)
            decisions = data.decisions(conn, action, reason, before)
            stale = data.stale_tasks(conn)
            reaper_job = data.reaper_job(conn) if caps.cron else None
        older = None
        if len(decisions) == data.PAGE_SIZE:
            older = "/reaper?" + urlencode({k: v for k, v in (
                ("action", action), ("reason", reason), ("before", decisions[-1]["id"])) if v})
        return self.render(request, "reaper.html", caps=caps, decisions=decisions,
                           stale=stale, action=action, reason=reason, older=older,
                           actions=words.ACTIONS, reasons=words.REASONS,
                           reaper_job=reaper_job)

    def metrics(self, request: Request) -> Response:
        with self.conn() as conn:
            text = metrics.render(conn)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    # -- actions
    async def action(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        return await run_in_threadpool(self._action, request, {k: v[0] for k, v in form.items()})

    def _action(self, request: Request, form: dict) -> Response:
        task_id, action = request.path_params["task_id"], request.path_params["action"]
        if action not in data.TASK_ACTIONS:
            raise ConsoleError(404, "no-such-action", f"unknown action {action!r}")
        if self.read_only:
            raise ConsoleError(403, "read-only", "this console was started with --read-only")
        if not self.guard.same_site(request.headers, request.url.scheme):
            raise ConsoleError(403, "cross-site", "the request did not come from this console")
        if not self.guard.csrf_ok(form.get("csrf")):
            raise ConsoleError(403, "csrf", "the form's token is missing or stale: reload")
        token = _int(form.get("lease_token"), "lease_token") if action == "take-back" else None
        with self.conn() as conn:
            caps = data.capabilities(conn, self.read_only)
            if not caps.may(action):
                raise ConsoleError(403, "not-allowed",
                                   f"role {caps.user} may not call {data.TASK_ACTIONS[action][0]}")
            changed = data.act(conn, action, task_id, token)
        log.info("action %s task %s by role %s from %s: %s", action, task_id, caps.user,
                 request.client.host if request.client else "?",
                 "changed" if changed else "unchanged")
        query = urlencode({"done": action, "changed": int(changed)})
        return RedirectResponse(f"/tasks/{task_id}?{query}", status_code=303)


def _int(value: Optional[str], what: str) -> Optional[int]:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ConsoleError(400, f"bad-{what}", f"{what} must be an integer") from None


_SQLSTATE_STATUS = {"TL009": (404, "no-such-task"), "42501": (403, "not-allowed")}


def create_app(dsn: Optional[str] = None, *, read_only: bool = False,
               token: Optional[str] = None, pool_size: int = 4) -> Starlette:
    """The console as an ASGI app; its pool opens when the app starts (lifespan)."""
    guard = Guard(token)
    console = Console(dsn, read_only, guard, pool_size)

    async def handle_console_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, psycopg.Error):
            code = getattr(exc, "sqlstate", None) or ""
            status, name = _SQLSTATE_STATUS.get(
                code, (400, "invalid") if code.startswith("TL") else (503, "database"))
            err = ConsoleError(status, name, (exc.diag.message_primary or str(exc))
                               if hasattr(exc, "diag") else str(exc))
        else:
            assert isinstance(exc, ConsoleError)
            err = exc
        return console.render(request, "error.html", http_status=err.status, error=err)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(console.open)
        try:
            yield
        finally:
            await run_in_threadpool(console.close)

    routes = [
        Route("/", console.overview),
        Route("/tasks", console.tasks),
        Route("/tasks/{task_id:int}", console.task),
        Route("/tasks/{task_id:int}/{action}", console.action, methods=["POST"]),
        Route("/workers", console.workers),
        Route("/reaper", console.reaper),
        Route("/metrics", console.metrics),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ConsoleError: handle_console_error, psycopg.Error: handle_console_error,
    })
    app.state.console = console
    return _ServerTiming(AuthMiddleware(app, guard), app)


class _ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` (request start to response start)."""

    def __init__(self, inner, app: Starlette) -> None:
        self.inner, self.app = inner, app
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1000
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"server-timing", f"app;dur={ms:.1f}".encode())]}
            await send(message)

        await self.inner(scope, receive, timed)

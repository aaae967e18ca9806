"""`tasklease ui` over HTTP: routes, /metrics, what each role and mode may do, the guards
against cross-site requests, the token, and the command's own refusals.  The browser
tests (test_ui_browser.py) drive the same pages as a person would."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest
from ui_server import UiServer, login_role, seed_every_state

pytest.importorskip("starlette", reason="the ui extra is not installed")

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def admin_ui(base_dsn, tmp_path_factory):
    server = UiServer(base_dsn, log_dir=tmp_path_factory.mktemp("ui"))
    yield server
    server.stop()


@pytest.fixture
def seeded(conn, cron_paused):
    return seed_every_state(conn)


def csrf_of(server: UiServer, task_id: int) -> str:
    status, _, body = server.get(f"/tasks/{task_id}")
    assert status == 200
    found = CSRF.search(body)
    assert found, "the task page has no action form"
    return found.group(1)


def test_every_route_answers_with_its_server_time(admin_ui, seeded):
    for path in ("/", "/tasks", f"/tasks/{seeded['failed']}", "/workers", "/reaper",
                 "/metrics", "/tasks?queue=mail&status=failed", "/reaper?reason=lease_expired"):
        status, headers, _ = admin_ui.get(path)
        assert status == 200, path
        assert re.fullmatch(r"app;dur=[0-9.]+", headers["server-timing"]), path


def test_pages_name_nothing_off_this_machine(admin_ui, seeded):
    for path in ("/", "/tasks", f"/tasks/{seeded['requeued']}", "/workers", "/reaper"):
        _, headers, body = admin_ui.get(path)
        assert "default-src 'none'" in headers["content-security-policy"]
        assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", body), path


def test_bad_input_is_a_client_error(admin_ui, seeded):
    assert admin_ui.get("/tasks/999999999")[0] == 404
    assert admin_ui.get("/tasks?status=lost")[0] == 400
    assert admin_ui.get("/tasks?queue=bad%20name")[0] == 400
    assert admin_ui.get("/tasks?before=x")[0] == 400
    assert admin_ui.get("/reaper?reason=whim")[0] == 400


def test_metrics_are_prometheus_gauges_labelled_by_queue(admin_ui, seeded):
    status, headers, body = admin_ui.get("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    samples = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert samples
    values = {}
    for line in samples:
        m = re.fullmatch(r'(tasklease_[a-z0-9_]+)\{([^}]*)\} (\S+)', line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        assert "queue" in labels, line
        values[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
    assert values[("tasklease_tasks", (("queue", "mail"), ("status", "queued")))] == 1
    assert values[("tasklease_tasks", (("queue", "reports"), ("status", "running")))] == 1
    assert values[("tasklease_dead_worker_tasks", (("queue", "mail"),))] == 1
    assert values[("tasklease_stale_tasks", (("queue", "mail"),))] == 1
    assert values[("tasklease_finished_tasks_1h",
                   (("queue", "mail"), ("status", "failed")))] == 1
    assert values[("tasklease_reaper_decisions_1h", (("action", "requeued"),
                   ("queue", "reports"), ("reason", "lease_expired")))] == 1
    for name in ("tasklease_tasks", "tasklease_oldest_runnable_age_seconds"):
        assert f"# TYPE {name} gauge" in body


def test_an_action_is_a_logged_sql_call_then_a_redirect(admin_ui, seeded, conn):
    token = csrf_of(admin_ui, seeded["failed"])
    status, headers, _ = admin_ui.post(f"/tasks/{seeded['failed']}/retry", {"csrf": token})
    assert status == 303
    assert headers["location"] == f"/tasks/{seeded['failed']}?done=retry&changed=1"
    row = conn.execute("SELECT action, reason, actor FROM tasklease.reaper_log "
                       "WHERE task_id = %s ORDER BY id DESC LIMIT 1",
                       (seeded["failed"],)).fetchone()
    assert row == ("retried", "operator", "retry_task")
    status, headers, _ = admin_ui.post(f"/tasks/{seeded['failed']}/retry", {"csrf": token})
    assert headers["location"].endswith("changed=0"), "a second retry changes nothing"


def test_take_back_is_fenced_by_the_token_the_page_showed(admin_ui, seeded, conn):
    token = csrf_of(admin_ui, seeded["stale"])
    lease = conn.execute("SELECT lease_token FROM tasklease.tasks WHERE id = %s",
                         (seeded["stale"],)).fetchone()[0]
    stale_form = {"csrf": token, "lease_token": lease - 1}
    status, headers, _ = admin_ui.post(f"/tasks/{seeded['stale']}/take-back", stale_form)
    assert status == 303 and headers["location"].endswith("changed=0")
    status, headers, _ = admin_ui.post(f"/tasks/{seeded['stale']}/take-back",
                                       {"csrf": token, "lease_token": lease})
    assert status == 303 and headers["location"].endswith("changed=1")
    assert conn.execute("SELECT status::text, requeue_count FROM tasklease.tasks WHERE id = %s",
                        (seeded["stale"],)).fetchone() == ("queued", 1)


@pytest.mark.parametrize("form_token, headers, code", [
    (None, {}, "csrf"),
    ("forged", {}, "csrf"),
    ("GOOD", {"Origin": "http://evil.example"}, "cross-site"),
    ("GOOD", {"Sec-Fetch-Site": "cross-site"}, "cross-site"),
    ("GOOD", {"Referer": "http://evil.example/page"}, "cross-site"),
])
def test_cross_site_requests_are_refused(admin_ui, seeded, conn, form_token, headers, code):
    good = csrf_of(admin_ui, seeded["queued"])
    form = {} if form_token is None else {"csrf": good if form_token == "GOOD" else form_token}
    status, _, body = admin_ui.post(f"/tasks/{seeded['queued']}/cancel", form, headers)
    assert status == 403 and f'data-error="{code}"' in body
    assert conn.execute("SELECT status::text FROM tasklease.tasks WHERE id = %s",
                        (seeded["queued"],)).fetchone() == ("queued",)


def test_read_only_console_offers_and_takes_no_action(base_dsn, seeded, conn, tmp_path):
    server = UiServer(base_dsn, "--read-only", log_dir=tmp_path)
    try:
        _, _, page = server.get(f"/tasks/{seeded['failed']}")
        assert 'data-refused="retry"' in page and "<form method=\"post\"" not in page
        token = CSRF.search(server.get(f"/tasks/{seeded['failed']}")[2])
        status, _, body = server.post(f"/tasks/{seeded['failed']}/retry",
                                      {"csrf": token.group(1) if token else "x"})
    finally:
        server.stop()
    assert status == 403 and 'data-error="read-only"' in body
    assert conn.execute("SELECT status::text FROM tasklease.tasks WHERE id = %s",
                        (seeded["failed"],)).fetchone() == ("failed",)


def test_worker_role_sees_every_page_read_only(base_dsn, seeded, tmp_path):
    dsn = login_role(base_dsn, "tl_ui_worker", "tasklease_worker")
    server = UiServer(dsn, log_dir=tmp_path)
    try:
        for path in ("/", "/tasks", f"/tasks/{seeded['failed']}", "/workers", "/reaper",
                     "/metrics"):
            assert server.get(path)[0] == 200, path
        _, _, page = server.get(f"/tasks/{seeded['queued']}")
    finally:
        server.stop()
    assert 'data-refused="cancel"' in page and 'data-action="cancel"' not in page


def test_a_token_is_required_when_set(base_dsn, seeded, tmp_path):
    server = UiServer(base_dsn, "--token", "s3cret", log_dir=tmp_path)
    try:
        denied = server.get("/")
        bearer = server.get("/metrics", {"Authorization": "Bearer s3cret"})
        basic = server.get("/", {"Authorization": "Basic "
                                 + base64.b64encode(b"ops:s3cret").decode()})
        wrong = server.get("/", {"Authorization": "Bearer nope"})
    finally:
        server.stop()
    assert denied[0] == 401 and denied[1]["www-authenticate"].startswith("Basic")
    assert bearer[0] == 200 and basic[0] == 200 and wrong[0] == 401


def test_binding_beyond_loopback_needs_a_token(base_dsn):
    proc = subprocess.run(
        [sys.executable, "-m", "tasklease", "ui", "--dsn", base_dsn, "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2


def test_without_the_extra_the_command_says_which_to_install(base_dsn):
    block = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('starlette', 'uvicorn', 'jinja2'):\n"
        "            raise ModuleNotFoundError(name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from tasklease.cli import main\n"
        f"sys.exit(main(['ui', '--dsn', {base_dsn!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert "tasklease[ui]" in proc.stderr and "Traceback" not in proc.stderr

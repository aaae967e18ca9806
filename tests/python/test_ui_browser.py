"""The console in a real browser: Debian's headless chromium driven by Playwright.

As a person would use it: the overview with a task in every state, a requeued task
followed from the reaper page to its timeline, a failed task retried and then run by a
real worker process, an action refused to a producer's console, and every request the
browser made kept on this machine.  Each page is saved at 1280x800 to docs/screenshots/
(the README shows them).  Nothing downloads a browser: Playwright gets the path of the
system's chromium (scripts/bootstrap.sh installs it with apt).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from handlers import WorkerProcess, reset_witness, wait_until
from ui_server import SCREENSHOTS, UiServer, login_role, seed_every_state

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("starlette", reason="the ui extra is not installed")

CHROMIUM = os.environ.get("TASKLEASE_CHROMIUM", "/usr/bin/chromium")
# What works on a closed network: no sandbox (root), no GPU, no QUIC, and none of the
# browser's own background traffic (updates, sync, first-run pages).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A persistent context on a fresh profile directory; every request it makes is kept."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: run scripts/bootstrap.sh"
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, viewport=VIEWPORT, args=FLAGS,
        )
        context.on("request", lambda r: requests.append(r.url))
        try:
            yield context, requests
        finally:
            context.close()


@pytest.fixture
def page(browser):
    context, _ = browser
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    page.close()


@pytest.fixture(scope="module")
def admin_ui(base_dsn, tmp_path_factory):
    server = UiServer(base_dsn, log_dir=tmp_path_factory.mktemp("ui"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def producer_ui(base_dsn, tmp_path_factory):
    dsn = login_role(base_dsn, "tl_ui_producer", "tasklease_producer")
    server = UiServer(dsn, log_dir=tmp_path_factory.mktemp("ui"))
    yield server
    server.stop()


@pytest.fixture
def seeded(conn, cron_paused):
    return seed_every_state(conn)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def count(page, queue: str, what: str) -> str:
    return page.locator(f'tr[data-queue="{queue}"] [data-count="{what}"]').inner_text().strip()


def test_overview_shows_tasks_in_every_state(page, admin_ui, seeded):
    page.goto(admin_ui.base + "/")
    assert [count(page, "mail", s) for s in ("queued", "running", "completed", "failed")] == \
        ["1", "1", "1", "1"]
    assert [count(page, "reports", s) for s in ("queued", "running", "cancelled")] == \
        ["2", "1", "1"]
    assert count(page, "mail", "stale") == "1"
    assert count(page, "mail", "dead_owner_tasks") == "1"
    assert page.locator('[data-workers="alive"]').inner_text() == "1"
    assert page.locator("svg.plot").count() == 2
    shot(page, "overview")

    page.click("nav >> text=Tasks")
    rows = page.locator("table[data-table=tasks] tbody tr[data-task-id]")
    assert rows.count() == len(seeded)
    assert {rows.nth(i).get_attribute("data-status") for i in range(rows.count())} == \
        {"queued", "running", "completed", "failed", "cancelled"}
    shot(page, "tasks")

    page.click("nav >> text=Workers")
    states = page.locator("table[data-table=workers] tr[data-worker]")
    assert {states.nth(i).get_attribute("data-state") for i in range(states.count())} == \
        {"alive", "dead"}
    shot(page, "workers")


def test_follow_a_requeued_task_to_its_timeline(page, admin_ui, seeded):
    page.goto(admin_ui.base + "/reaper")
    stale = page.locator("table[data-table=stale] tr[data-task-id]")
    assert stale.count() == 1 and stale.get_attribute("data-reason") == "owner_dead"
    page.select_option("select[name=reason]", "lease_expired")
    page.click("form.filters button")
    decision = page.locator("table[data-table=decisions] tr[data-action=requeued]")
    assert decision.count() == 1
    shot(page, "reaper")

    decision.locator("a[data-task-link]").click()
    page.wait_for_url(f"**/tasks/{seeded['requeued']}")
    event = page.locator('ol.timeline li[data-event="requeued"]')
    assert event.get_attribute("data-reason") == "lease_expired"
    assert page.locator('[data-budget="requeues"]').inner_text() == "1/3"
    shot(page, "task")


def test_retry_a_failed_task_and_see_it_run(page, admin_ui, dsn, conn, tmp_path):
    reset_witness(conn)  # the handler records each run that completes
    worker = WorkerProcess(dsn, "--queue", "flaky", "--name", "ui-test-worker",
                           log_dir=tmp_path)
    try:
        task_id = conn.execute(
            "SELECT tasklease.enqueue('{\"fail_first\": \"flaky\"}', 'flaky', now(), 0, 1)"
        ).fetchone()[0]
        wait_until(lambda: _status(conn, task_id) == "failed", what="the first run to fail")

        page.goto(admin_ui.base + "/tasks?queue=flaky&status=failed")
        page.click(f'a[data-task-link="{task_id}"]')
        assert page.locator("[data-field=last_error]").count() == 1
        page.once("dialog", lambda dialog: dialog.accept())
        page.click('button[data-action="retry"]')
        page.wait_for_url(f"**/tasks/{task_id}?done=retry&changed=1")

        def completed() -> bool:
            page.reload()
            return page.locator("h1 [data-status]").get_attribute("data-status") == "completed"

        wait_until(completed, timeout=30, interval=0.5, what="the retried task to complete")
        events = page.locator("ol.timeline li")
        assert [events.nth(i).get_attribute("data-event") for i in range(events.count())] == \
            ["created", "retried", "finished"]
        shot(page, "task-retried")
    finally:
        assert worker.stop() == 0, worker.log()


def test_an_action_is_refused_to_a_producer(page, producer_ui, seeded, conn):
    page.goto(f"{producer_ui.base}/tasks/{seeded['failed']}")
    assert page.locator('[data-refused="retry"]').count() == 1
    assert page.locator('button[data-action="retry"]').count() == 0
    # A producer may cancel (it may call cancel_task): the button is there.
    page.goto(f"{producer_ui.base}/tasks/{seeded['queued']}")
    assert page.locator('button[data-action="cancel"]').count() == 1
    # Send the retry anyway, as a form of this very page: the server refuses it.
    page.evaluate("""id => {
        const form = document.querySelector('form[method=post]');
        form.action = '/tasks/' + id + '/retry';
        form.removeAttribute('data-confirm');
        form.submit();
    }""", seeded["failed"])
    page.wait_for_selector("[data-error]")
    assert page.locator("[data-error]").get_attribute("data-error") == "not-allowed"
    assert page.locator("[data-error]").get_attribute("data-status") == "403"
    shot(page, "refused")
    assert _status(conn, seeded["failed"]) == "failed"


def test_no_page_requests_anything_off_this_machine(page, browser, admin_ui, seeded):
    for path in ("/", "/tasks", f"/tasks/{seeded['stale']}", "/workers", "/reaper", "/metrics"):
        page.goto(admin_ui.base + path)
    _, requests = browser
    hosts = {urlsplit(url).hostname for url in requests if not url.startswith("data:")}
    assert len(requests) > 20
    assert hosts == {"127.0.0.1"}, sorted(set(requests))


def _status(conn: psycopg.Connection, task_id: int) -> str:
    return conn.execute("SELECT status::text FROM tasklease.tasks WHERE id = %s",
                        (task_id,)).fetchone()[0]

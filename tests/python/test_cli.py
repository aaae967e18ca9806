"""The tasklease command line: output (tables and --json) and exit codes."""

from __future__ import annotations

import io
import json

import pytest
from tasklease.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _expired_running_task(conn, owner: str = "ghost") -> int:
    """A running task whose lease ran out a minute ago (and last renewed then)."""
    task_id = conn.execute("SELECT tasklease.enqueue('{}'::jsonb)").fetchone()[0]
    conn.execute("SELECT * FROM tasklease.claim_task(%s, 'default')", (owner,))
    conn.execute(
        "UPDATE tasklease.tasks SET lease_expires_at = now() - interval '1 minute', "
        "last_heartbeat = now() - interval '1 hour' WHERE id = %s", (task_id,))
    return task_id


def _status(conn, task_id: int) -> str:
    return conn.execute(
        "SELECT status::text FROM tasklease.tasks WHERE id = %s", (task_id,)
    ).fetchone()[0]


def test_enqueue_one_prints_its_id(conn, dsn, capsys):
    code, out, _ = run(capsys, "enqueue", "--dsn", dsn, "--queue", "q1", "--priority", "3",
                       "--max-attempts", "2", '{"x": 1}')
    assert code == EXIT_OK
    task_id = int(out.strip())
    row = conn.execute(
        "SELECT queue, payload, priority, max_attempts, run_after <= now() "
        "FROM tasklease.tasks WHERE id = %s", (task_id,)).fetchone()
    assert row == ("q1", {"x": 1}, 3, 2, True)


def test_enqueue_from_stdin_in_order(conn, dsn, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"n": 1}\n\n{"n": 2}\n[3]\n'))
    code, out, _ = run(capsys, "enqueue", "--dsn", dsn, "--run-after", "3600", "-")
    assert code == EXIT_OK
    ids = [int(x) for x in out.split()]
    rows = conn.execute(
        "SELECT payload, run_after > now() + interval '50 minutes' FROM tasklease.tasks "
        "WHERE id = ANY(%s) ORDER BY id", (ids,)).fetchall()
    assert rows == [({"n": 1}, True), ({"n": 2}, True), ([3], True)]


def test_enqueue_with_a_dedupe_key_prints_the_holder(conn, dsn, capsys):
    code, out, err = run(capsys, "enqueue", "--dsn", dsn, "--dedupe-key", "k1", "--queue", "d",
                         '{"x": 1}')
    assert code == EXIT_OK and err == ""
    first = int(out.strip())
    code, out, err = run(capsys, "enqueue", "--dsn", dsn, "--dedupe-key", "k1", "--queue", "d",
                         "--dedupe-for", "60", '{"x": 2}')
    assert code == EXIT_OK and int(out.strip()) == first
    assert f"task {first} holds dedupe key 'k1'" in err
    rows = conn.execute("SELECT payload, dedupe_key FROM tasklease.tasks").fetchall()
    assert rows == [({"x": 1}, "k1")]
    code, _, err = run(capsys, "enqueue", "--dsn", dsn, "--dedupe-key", "k1", "-")
    assert code == EXIT_USAGE and "--dedupe-key" in err


def test_enqueue_errors_have_exit_codes(conn, dsn, capsys):
    code, _, err = run(capsys, "enqueue", "--dsn", dsn, "{not json")
    assert code == EXIT_USAGE and err.startswith("tasklease: error:")
    code, _, err = run(capsys, "enqueue", "--dsn", dsn, "--queue", "bad queue", "{}")
    assert code == EXIT_ERROR and err.startswith("tasklease: error:")
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as usage:
        main(["enqueue", "--dsn", dsn, "--priority", "high", "{}"])
    assert usage.value.code == EXIT_USAGE
    assert conn.execute("SELECT count(*) FROM tasklease.tasks").fetchone()[0] == 0


def test_status_json_and_table(conn, dsn, capsys):
    conn.execute("SELECT tasklease.enqueue_many(ARRAY['1', '2']::jsonb[], 'sq')")
    stale = _expired_running_task(conn)
    conn.execute("SELECT tasklease.heartbeat('st-worker')")
    code, out, _ = run(capsys, "status", "--dsn", dsn, "--json")
    assert code == EXIT_OK
    data = json.loads(out)
    assert {(r["queue"], r["status"], r["tasks"]) for r in data["tasks"]} == {
        ("sq", "queued", 2), ("default", "running", 1)}
    assert [(w["worker"], w["state"]) for w in data["workers"]] == [("st-worker", "alive")]
    assert [(s["task"], s["reason"]) for s in data["stale_tasks"]] == [(stale, "lease_expired")]
    assert data["reaper_log"] == []
    code, out, _ = run(capsys, "status", "--dsn", dsn)
    assert code == EXIT_OK
    assert "st-worker" in out and "lease_expired" in out


def test_status_says_which_queues_are_paused_or_at_their_limit(conn, dsn, capsys):
    conn.execute("SELECT tasklease.enqueue_many(ARRAY['1', '2']::jsonb[], 'held')")
    conn.execute("SELECT tasklease.set_queue('held', paused => true)")
    conn.execute("SELECT tasklease.enqueue_many(ARRAY['1', '2']::jsonb[], 'capped')")
    conn.execute("SELECT tasklease.set_queue('capped', max_running => 1)")
    conn.execute("SELECT * FROM tasklease.claim_tasks('w', 5, 'capped')")
    code, out, _ = run(capsys, "status", "--dsn", dsn, "--json")
    assert code == EXIT_OK
    queues = {q["queue"]: q for q in json.loads(out)["queues"]}
    assert (queues["held"]["state"], queues["held"]["queued"]) == ("paused", 2)
    assert (queues["capped"]["state"], queues["capped"]["max_running"],
            queues["capped"]["running"]) == ("at_limit", 1, 1)
    code, out, _ = run(capsys, "status", "--dsn", dsn)
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["held"][1] == "paused" and lines["capped"][1] == "at_limit"


def test_reap_dry_run_changes_nothing_then_reaps(conn, dsn, capsys):
    task_id = _expired_running_task(conn)
    code, out, _ = run(capsys, "reap", "--dsn", dsn, "--dry-run", "--json")
    assert code == EXIT_OK
    data = json.loads(out)
    assert data["dry_run"] is True
    assert data["actions"] == [{"task": task_id, "action": "requeued", "reason": "lease_expired",
                                "owner": "ghost", "attempts": 1}]
    assert _status(conn, task_id) == "running"
    code, out, _ = run(capsys, "reap", "--dsn", dsn, "--batch", "5")
    assert code == EXIT_OK
    header = out.splitlines()[1].split()
    assert header == ["task", "action", "reason", "owner", "attempts"]
    assert out.splitlines()[2].split() == [str(task_id), "requeued", "lease_expired", "ghost", "1"]
    assert _status(conn, task_id) == "queued"


def test_cleanup_stale_defaults_from_env(conn, dsn, capsys, monkeypatch):
    task_id = _expired_running_task(conn)
    monkeypatch.setenv("TASK_STALE_S", "7200")  # two hours: the task is not that stale
    code, out, _ = run(capsys, "cleanup-stale", "--dsn", dsn, "--dry-run", "--json")
    assert code == EXIT_OK and json.loads(out)["actions"] == []
    monkeypatch.setenv("TASK_STALE_S", "60")
    monkeypatch.setenv("TASK_MAX_REQUEUE", "0")
    code, out, _ = run(capsys, "cleanup-stale", "--dsn", dsn, "--dry-run", "--json")
    assert [(a["task"], a["action"], a["reason"]) for a in json.loads(out)["actions"]] == [
        (task_id, "failed", "cleanup")]
    assert _status(conn, task_id) == "running"
    code, _, _ = run(capsys, "cleanup-stale", "--dsn", dsn, "--max-requeue", "1")
    assert code == EXIT_OK and _status(conn, task_id) == "queued"
    monkeypatch.setenv("TASK_STALE_S", "soon")
    code, _, err = run(capsys, "cleanup-stale", "--dsn", dsn)
    assert code == EXIT_USAGE and err.startswith("tasklease: error:")


def test_schedule_on_and_off(conn, dsn, capsys):
    cron = "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'"
    if not conn.execute(cron).fetchone()[0]:
        code, _, _ = run(capsys, "schedule", "--dsn", dsn)
        assert code == EXIT_ERROR  # TL010
        return
    try:
        code, out, _ = run(capsys, "schedule", "--dsn", dsn, "--off", "--json")
        assert code == EXIT_OK
        assert json.loads(out)["jobs"] == []
        code, out, _ = run(capsys, "schedule", "--dsn", dsn, "--every", "*/2 * * * *", "--json")
        assert code == EXIT_OK
        data = json.loads(out)
        jobs = {j["jobname"]: j["schedule"] for j in data["jobs"]}
        assert jobs["tasklease-reaper"] == "*/2 * * * *" and "tasklease-prune" in jobs
        code, _, err = run(capsys, "schedule", "--dsn", dsn, "--every", "every now and then")
        assert code == EXIT_ERROR and err.startswith("tasklease: error:")
        # --run-as: both jobs move to that LOGIN role (one of each); a NOLOGIN role is refused.
        conn.execute("DROP ROLE IF EXISTS tl_cli_cron")
        conn.execute("CREATE ROLE tl_cli_cron LOGIN IN ROLE tasklease_admin")
        code, out, _ = run(capsys, "schedule", "--dsn", dsn, "--run-as", "tl_cli_cron", "--json")
        assert code == EXIT_OK
        users = {j["jobname"]: j["username"] for j in json.loads(out)["jobs"]}
        assert users == {"tasklease-reaper": "tl_cli_cron", "tasklease-prune": "tl_cli_cron"}
        code, _, err = run(capsys, "schedule", "--dsn", dsn, "--run-as", "tasklease_worker")
        assert code == EXIT_ERROR and err.startswith("tasklease: error:")  # TL007: NOLOGIN
    finally:
        assert run(capsys, "schedule", "--dsn", dsn)[0] == EXIT_OK  # back to the default
        conn.execute("DROP ROLE IF EXISTS tl_cli_cron")


def test_worker_usage_errors(dsn, capsys):
    code, _, err = run(capsys, "worker", "--dsn", dsn, "no_colon")
    assert code == EXIT_USAGE and err.startswith("tasklease: error:")
    code, _, _ = run(capsys, "worker", "--dsn", dsn, "no_such_module_xyz:f")
    assert code == EXIT_USAGE
    code, _, _ = run(capsys, "worker", "--dsn", dsn, "json:no_such_function")
    assert code == EXIT_USAGE


def test_migrate_still_works(dsn, capsys):
    code, out, _ = run(capsys, "migrate", "--dsn", dsn, "--no-schedule")
    assert code == EXIT_OK and "migrations: up to date" in out


def test_output_into_a_closed_pipe_exits_quietly(conn, dsn):
    """`tasklease status | head -1`: no traceback when the reader goes away."""
    import subprocess
    import sys

    # More output than a pipe buffers (64 kB), so the writer meets the closed pipe.
    conn.execute("SELECT tasklease.enqueue('{}', 'queue-' || g) FROM generate_series(1, 4000) g")
    proc = subprocess.Popen([sys.executable, "-m", "tasklease", "status", "--dsn", dsn],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader is gone before the rest is written
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    assert proc.returncode in (0, 141)


@pytest.fixture
def no_periodic_tasks(conn):
    """Remove what a test scheduled (pg_cron jobs outlive the test's truncates)."""
    if conn.execute("SELECT to_regclass('cron.job') IS NULL").fetchone()[0]:
        pytest.skip("pg_cron is not installed in the test database")
    yield
    for (name,) in conn.execute("SELECT name FROM tasklease.periodic_schedules").fetchall():
        conn.execute("SELECT tasklease.unschedule_task(%s)", (name,))


def test_periodic_add_list_remove(conn, dsn, capsys, no_periodic_tasks):
    code, out, _ = run(capsys, "periodic", "add", "--dsn", dsn, "nightly", "0 3 * * *",
                       '{"report": "daily"}', "--queue", "reports", "--priority", "2", "--json")
    assert code == EXIT_OK
    added = json.loads(out)
    job = conn.execute(
        "SELECT jobid, schedule FROM cron.job WHERE jobname = 'tasklease-periodic:nightly'"
    ).fetchone()
    assert (added["job"], "0 3 * * *") == job
    assert {k: added["periodic_task"][k] for k in ("name", "queue", "payload", "priority")} == {
        "name": "nightly", "queue": "reports", "payload": {"report": "daily"}, "priority": 2}
    code, out, _ = run(capsys, "periodic", "add", "--dsn", dsn, "tick", "@hourly")
    assert code == EXIT_OK and "pg_cron job" in out and "tasklease-periodic:tick" in out

    code, out, _ = run(capsys, "periodic", "list", "--dsn", dsn, "--json")
    assert code == EXIT_OK
    assert [(t["name"], t["schedule"], t["active"]) for t in json.loads(out)] == [
        ("nightly", "0 3 * * *", True), ("tick", "@hourly", True)]
    code, out, _ = run(capsys, "periodic", "list", "--dsn", dsn)
    assert out.splitlines()[0].split()[:3] == ["name", "schedule", "queue"]

    code, out, _ = run(capsys, "periodic", "remove", "--dsn", dsn, "nightly")
    assert (code, out.strip()) == (EXIT_OK, "periodic task nightly: removed")
    code, out, _ = run(capsys, "periodic", "remove", "--dsn", dsn, "nightly", "--json")
    assert json.loads(out) == {"name": "nightly", "removed": False}
    assert conn.execute(
        "SELECT count(*) FROM cron.job WHERE jobname = 'tasklease-periodic:nightly'"
    ).fetchone()[0] == 0


def test_periodic_errors_have_exit_codes(conn, dsn, capsys, no_periodic_tasks):
    code, _, err = run(capsys, "periodic", "add", "--dsn", dsn, "n", "61 * * * *")
    assert code == EXIT_ERROR and err.startswith("tasklease: error:") and "HINT" in err
    code, _, err = run(capsys, "periodic", "add", "--dsn", dsn, "n", "* * * * *", "{oops")
    assert code == EXIT_USAGE and "PAYLOAD_JSON" in err
    code, _, err = run(capsys, "periodic", "add", "--dsn", dsn, "bad name", "* * * * *")
    assert code == EXIT_ERROR
    assert conn.execute("SELECT count(*) FROM tasklease.periodic_schedules").fetchone()[0] == 0

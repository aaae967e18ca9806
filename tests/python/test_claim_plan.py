"""A claim's plan is made once per session (plan_cache_mode = force_generic_plan): made on
an empty, never analyzed table it must still never read the whole table once it grows
(the plan stays until something invalidates it, such as autovacuum's first visit)."""

from __future__ import annotations

import psycopg


def test_a_claim_planned_on_an_empty_table_never_scans_it(conn, dsn):
    with psycopg.connect(dsn, autocommit=True) as worker:
        worker.execute("LOAD 'auto_explain'")
        for setting in ("auto_explain.log_min_duration = 0",
                        "auto_explain.log_nested_statements = on",
                        "auto_explain.log_level = notice", "client_min_messages = notice",
                        # Index reads priced high: on an empty table the planner would now
                        # prefer reading the table, unless the claim forbids it.
                        "random_page_cost = 1000"):
            worker.execute(f"SET {setting}")
        plans: list[str] = []
        worker.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
        assert worker.execute("SELECT * FROM tasklease.claim_tasks('planner', 1)").fetchall() \
            == [], "the plan is made now, on the empty table"
        conn.execute("INSERT INTO tasklease.tasks (payload)"
                     " SELECT jsonb_build_object('n', g) FROM generate_series(1, 5000) AS g")
        plans.clear()
        assert len(worker.execute(
            "SELECT * FROM tasklease.claim_tasks('planner', 2)").fetchall()) == 2
    text = "\n".join(plans)
    assert "Update on tasks" in text, text
    assert "Seq Scan on tasks" not in text, text

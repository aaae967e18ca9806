-- Privileges.  Re-applied after every migrate, so a function added later is
-- covered too: EXECUTE is revoked from PUBLIC on everything in the schema and
-- granted per role below.  Workers and producers never write tables directly:
-- they call SECURITY DEFINER functions, which pin search_path.
--   tasklease_worker    claim, renew, heartbeat, complete, fail, release, recover
--   tasklease_producer  enqueue, cancel, read task and status views
--   tasklease_admin     everything: both roles above, settings, reaper, cleanup,
--                       schedule, pruning, queue limits and pauses (set_queue),
--                       periodic tasks, and the tables themselves

REVOKE ALL ON SCHEMA tasklease FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA tasklease FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA tasklease FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tasklease FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA tasklease REVOKE ALL ON TABLES FROM PUBLIC;

GRANT USAGE ON SCHEMA tasklease TO tasklease_worker, tasklease_producer, tasklease_admin;
GRANT tasklease_worker TO tasklease_admin;
GRANT tasklease_producer TO tasklease_admin;

-- Read-only helpers that the status views call (function privileges in a
-- view are checked against the caller).
GRANT EXECUTE ON FUNCTION
tasklease._setting(text),
tasklease._stale_reason(
    timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int
),
tasklease._budget_action(int, int),
tasklease._worker_alive(timestamptz, timestamptz, timestamptz, int),
tasklease._cron_jobs(),
tasklease._periodic_job(text)
TO tasklease_worker, tasklease_producer;

GRANT SELECT ON
tasklease.task_status_counts,
tasklease.stale_tasks,
tasklease.worker_status,
tasklease.reaper_activity,
tasklease.queues,
tasklease.periodic_tasks
TO tasklease_worker, tasklease_producer;

GRANT EXECUTE ON FUNCTION
tasklease.claim_task(text, text, int),
tasklease.claim_tasks(text, int, text, int),
tasklease.renew_lease(bigint, text, bigint, int),
tasklease.renew_leases(text, bigint [], bigint [], int),
tasklease.heartbeat(text, jsonb),
tasklease.register_worker(text, text, text, int, jsonb, boolean, text),
tasklease.worker_stopped(text, text),
tasklease.complete_task(bigint, text, bigint, jsonb),
tasklease.complete_tasks(text, bigint [], bigint [], jsonb []),
tasklease.fail_task(bigint, text, bigint, text, int),
tasklease.release_owner(text, bigint []),
tasklease.release_tasks(text, bigint [], bigint []),
tasklease.recover_owner(text),
tasklease.reap_if_due(text),
tasklease.owned_tasks(text),
tasklease.completed_by(text, bigint [], bigint [])
TO tasklease_worker;

GRANT EXECUTE ON FUNCTION
tasklease.enqueue(jsonb, text, timestamptz, int, int, text, interval),
tasklease.enqueue_many(jsonb [], text, timestamptz, int, int, text [], interval),
tasklease.enqueue_tasks(jsonb [], text, timestamptz, int, int, text [], interval),
tasklease.cancel_task(bigint),
tasklease.get_task(bigint)
TO tasklease_producer;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tasklease TO tasklease_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tasklease TO tasklease_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA tasklease TO tasklease_admin;

-- The operations console (080_console.sql, `tasklease ui`).  Its reads are
-- open to the worker and producer roles too, so that their console works,
-- read-only; get_task (the task page) to workers as well.  Its actions
-- (retry_task, run_task_now, take_back_task) are tasklease_admin's only,
-- through the grant on every function above; a producer's console offers
-- cancel_task, which that role may call anyway.
GRANT EXECUTE ON FUNCTION
tasklease.console_tasks(text, tasklease.task_status, bigint, int),
tasklease.console_queues(int),
tasklease.console_throughput(int),
tasklease.console_decisions(bigint, text, text, bigint, int),
tasklease.console_decision_counts(int)
TO tasklease_worker, tasklease_producer;

GRANT EXECUTE ON FUNCTION tasklease.get_task(bigint) TO tasklease_worker;

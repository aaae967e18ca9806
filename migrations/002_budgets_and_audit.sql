-- 002_budgets_and_audit: one counter per budget, and an audit trail that
-- can say who decided and for which new reasons.
--
-- Safe on a live database (release 0.1.0 workers keep running through it):
-- every statement is metadata-only or touches only the few queued/running
-- rows that have a history; the migrator bounds each lock wait.

-- Handler failures so far, the counter of the max_attempts budget.  Before
-- this, fail_task compared attempts (claims) with max_attempts, so every
-- crash requeue also spent a unit of the handler-failure budget.
ALTER TABLE tasklease.tasks ADD COLUMN failures int NOT NULL DEFAULT 0;

-- Unfinished tasks with a history: every earlier claim ended either in a
-- handler failure or in a crash requeue (a graceful release gave its claim
-- back), so failures = claims - crash requeues - the claim running now.
-- Finished tasks keep 0: their budgets no longer matter.
UPDATE tasklease.tasks AS t
SET failures = greatest(
    t.attempts - t.requeue_count - CASE WHEN t.status = 'running' THEN 1 ELSE 0 END, 0
)
WHERE t.status IN ('queued', 'running') AND t.attempts > 0;

-- Who took each decision: the login role of the session (rows written before
-- this migration have none).
ALTER TABLE tasklease.reaper_log ADD COLUMN db_user text;
ALTER TABLE tasklease.reaper_log ALTER COLUMN db_user SET DEFAULT session_user;

-- New decisions: a graceful stop that had to abandon a running handler
-- (abandoned), and operator actions (retried, cancelled, rescheduled; reasons
-- taken_back and operator).  The lists only grow, so existing rows satisfy
-- the new checks.
ALTER TABLE tasklease.reaper_log
DROP CONSTRAINT reaper_log_action_check,
DROP CONSTRAINT reaper_log_reason_check,
ADD CONSTRAINT reaper_log_action_check
CHECK (
    action IN ('requeued', 'failed', 'released', 'retried', 'cancelled', 'rescheduled')
),
ADD CONSTRAINT reaper_log_reason_check
CHECK (
    reason IN (
        'lease_expired', 'owner_dead', 'no_lease', 'owner_restarted', 'released',
        'cleanup', 'abandoned', 'taken_back', 'operator'
    )
);

-- console_decisions: reaper_log newest first with each task's queue (NULL once
-- the task is gone), filtered by task, action and reason, paged by before_id.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT * FROM tl_test.claimed('w1', p_queue => 'mail') \gset c_
SELECT tl_test.expire(:c_id, interval '1 second');
SELECT count(*) FROM tasklease.reap_stale_tasks();
SELECT tasklease.enqueue('{}') AS k \gset
SELECT tasklease.cancel_task(:k);
DELETE FROM tasklease.tasks WHERE id = :k;

SELECT results_eq(
    $$SELECT queue, action, reason, owner_id, db_user = session_user
      FROM tasklease.console_decisions()$$,
    $$VALUES (NULL::text, 'cancelled', 'operator', NULL::text, true),
             ('mail', 'requeued', 'lease_expired', 'w1', true)$$,
    'newest first; the deleted task has no queue'
);
SELECT is((SELECT array_agg(task_id) FROM tasklease.console_decisions(:c_id)),
    ARRAY[:c_id]::bigint [], 'by task');
SELECT is((SELECT array_agg(task_id) FROM tasklease.console_decisions(
        action_filter => 'cancelled')), ARRAY[:k]::bigint [], 'by action');
SELECT is((SELECT array_agg(task_id) FROM tasklease.console_decisions(
        reason_filter => 'lease_expired')), ARRAY[:c_id]::bigint [], 'by reason');
SELECT is((SELECT array_agg(task_id) FROM tasklease.console_decisions(
        before_id => (SELECT max(id) FROM tasklease.reaper_log))), ARRAY[:c_id]::bigint [],
    'the next page starts below before_id');

SELECT * FROM finish();
ROLLBACK;

-- reaper_decisions: every reaper_log row, with its task's queue (NULL once
-- the task is gone).
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT * FROM tl_test.claimed('w1', p_queue => 'mail') \gset c_
SELECT tl_test.expire(:c_id, interval '1 second');
SELECT count(*) FROM tasklease.reap_stale_tasks();
SELECT tasklease.enqueue('{}') AS k \gset
SELECT tasklease.cancel_task(:k);
DELETE FROM tasklease.tasks WHERE id = :k;

SELECT results_eq(
    format($$SELECT task_id, queue, action, reason, owner_id FROM tasklease.reaper_decisions
             WHERE task_id IN (%s, %s) ORDER BY id$$, :c_id, :k),
    format($$VALUES (%s::bigint, 'mail', 'requeued', 'lease_expired', 'w1'),
                    (%s, NULL, 'cancelled', 'operator', NULL)$$, :c_id, :k),
    'the requeue with its queue; the cancelled task, since deleted, without one'
);
SELECT is((SELECT count(*) FROM tasklease.reaper_decisions),
    (SELECT count(*) FROM tasklease.reaper_log), 'one row per reaper_log row');

SELECT * FROM finish();
ROLLBACK;

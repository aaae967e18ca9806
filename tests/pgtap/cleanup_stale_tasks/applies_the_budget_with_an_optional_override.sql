-- cleanup uses the reaper's budget rule; max_requeue overrides the setting
-- for this call; batch bounds the call.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT tl_test.claimed_id('w1') AS a \gset
SELECT tl_test.claimed_id('w1') AS b \gset
SELECT tl_test.claimed_id('w1') AS c \gset
UPDATE tasklease.tasks SET last_heartbeat = now() - interval '1 day', requeue_count = 1;

SELECT results_eq(
    $$SELECT task_id, action FROM tasklease.cleanup_stale_tasks(60, 1, 1)$$,
    format($$VALUES (%s::bigint, 'failed')$$, :a),
    'max_requeue 1 with requeue_count 1 fails; batch 1 acts on one task'
);
SELECT is((tl_test.task(:a)).status, 'failed'::tasklease.task_status, 'a failed');
SELECT ok((tl_test.task(:a)).finished_at = now() AND (tl_test.task(:a)).last_error LIKE '%budget%',
    'a is finished with a budget error');
SELECT results_eq(
    $$SELECT task_id, action FROM tasklease.cleanup_stale_tasks(60, 0, 1)$$,
    format($$VALUES (%s::bigint, 'failed')$$, :b),
    'max_requeue 0 fails at once'
);
SELECT results_eq(
    $$SELECT task_id, action FROM tasklease.cleanup_stale_tasks(60)$$,
    format($$VALUES (%s::bigint, 'requeued')$$, :c),
    'without max_requeue the setting (3) applies: requeued'
);
SELECT is((tl_test.task(:c)).requeue_count, 2, 'requeue_count + 1');
SELECT ok((tl_test.task(:c)).run_after > now(), 'run_after in the future');

SELECT * FROM finish();
ROLLBACK;

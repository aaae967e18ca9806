-- requeue_count < max_requeue: requeued (queued, unowned, requeue_count + 1,
-- run_after in the future); otherwise failed, finished, with last_error.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(14);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1') \gset
SELECT id AS b FROM tl_test.claimed('w1') \gset
UPDATE tasklease.tasks SET requeue_count = 2 WHERE id = :a;
UPDATE tasklease.tasks SET requeue_count = 3 WHERE id = :b;
SELECT tl_test.expire(:a, interval '1 second');
SELECT tl_test.expire(:b, interval '1 second');

SELECT set_eq(
    $$SELECT task_id, action FROM tasklease.reap_stale_tasks()$$,
    format($$VALUES (%s::bigint, 'requeued'), (%s::bigint, 'failed')$$, :a, :b),
    'requeue_count 2 of 3 is requeued, 3 of 3 is failed'
);
SELECT is((tl_test.task(:a)).status, 'queued'::tasklease.task_status, 'a is queued');
SELECT is((tl_test.task(:a)).requeue_count, 3, 'a''s requeue_count + 1');
SELECT ok((tl_test.task(:a)).run_after > now(), 'a runs again after a backoff');
SELECT ok((tl_test.task(:a)).run_after <= now() + interval '1 hour', 'a bounded backoff');
SELECT ok((tl_test.task(:a)).owner_id IS NULL AND (tl_test.task(:a)).lease_token IS NULL
    AND (tl_test.task(:a)).lease_expires_at IS NULL, 'a''s owner, token and lease are cleared');
SELECT is((tl_test.task(:a)).attempts, 1, 'the reaper does not change attempts');
SELECT ok((tl_test.task(:a)).finished_at IS NULL, 'a is not finished');
SELECT is((tl_test.task(:b)).status, 'failed'::tasklease.task_status, 'b failed');
SELECT is((tl_test.task(:b)).finished_at, now(), 'b is finished now()');
SELECT is((tl_test.task(:b)).requeue_count, 3, 'b''s requeue_count stays at the budget');
SELECT ok((tl_test.task(:b)).lease_expires_at IS NULL, 'b has no lease');
SELECT ok((tl_test.task(:b)).last_error LIKE '%budget%', 'b''s last_error names the budget');

-- Once requeued up to the budget, the next stale episode fails the task.
UPDATE tasklease.tasks SET run_after = now() WHERE id = :a;
SELECT id AS a2 FROM tasklease.claim_task('w1') \gset
SELECT tl_test.expire(:a, interval '1 second');
SELECT is((SELECT action FROM tasklease.reap_stale_tasks()), 'failed',
    'a, now at requeue_count 3, fails next time');

SELECT * FROM finish();
ROLLBACK;

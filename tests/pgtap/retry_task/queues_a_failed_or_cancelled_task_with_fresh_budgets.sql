-- retry_task queues a failed or cancelled task again, runnable now, with both
-- budgets fresh; the old lease token stays dead; the retry is logged with the
-- counters the task had spent.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(15);

SELECT * FROM tl_test.claimed('w1', p_max_attempts => 1) \gset c_
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'boom'),
    'failed'::tasklease.task_status, 'the handler-failure budget is spent');
UPDATE tasklease.tasks SET requeue_count = 3 WHERE id = :c_id;

SELECT is(tasklease.retry_task(:c_id), true, 'a failed task is retried');
SELECT is((tl_test.task(:c_id)).status, 'queued'::tasklease.task_status, 'it is queued');
SELECT is((tl_test.task(:c_id)).run_after, now(), 'runnable now');
SELECT is((tl_test.task(:c_id)).failures, 0, 'the handler-failure budget is fresh');
SELECT is((tl_test.task(:c_id)).requeue_count, 0, 'the crash budget is fresh');
SELECT is((tl_test.task(:c_id)).attempts, 1, 'attempts (claims so far) is kept');
SELECT is((tl_test.task(:c_id)).last_error, 'boom', 'the last error is kept');
SELECT ok((tl_test.task(:c_id)).owner_id IS NULL AND (tl_test.task(:c_id)).lease_token IS NULL
    AND (tl_test.task(:c_id)).finished_at IS NULL, 'owner, token and finished_at are cleared');
SELECT is(
    (SELECT (l.action, l.reason, l.actor, l.owner_id, l.lease_token, l.attempts, l.requeue_count,
        l.db_user = session_user)::text
     FROM tasklease.reaper_log AS l WHERE l.task_id = :c_id),
    format('(retried,operator,retry_task,w1,%s,1,3,t)', :c_lease_token),
    'one log row: retried by the operator, with the spent counters and who did it'
);

SELECT * FROM tasklease.claim_task('w2', 'default') \gset r_
SELECT is(:r_id::bigint, :c_id::bigint, 'the retried task is claimed again');
SELECT cmp_ok(:r_lease_token::bigint, '>', :c_lease_token::bigint, 'with a larger token');
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false,
    'the old token stays dead');

SELECT tasklease.enqueue('{}') AS k \gset
SELECT tasklease.cancel_task(:k);
SELECT is(tasklease.retry_task(:k), true, 'a cancelled task is retried');
SELECT is((tl_test.task(:k)).status, 'queued'::tasklease.task_status, 'it is queued');

SELECT * FROM finish();
ROLLBACK;

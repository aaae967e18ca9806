-- Once attempts reach max_attempts, fail_task marks the task failed.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT * FROM tl_test.claimed('w1', NULL, 'default', '{}', 1) \gset c_
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'fatal'),
    'failed'::tasklease.task_status, 'returns failed at attempts = max_attempts');
SELECT is((tl_test.task(:c_id)).status, 'failed'::tasklease.task_status, 'the task failed');
SELECT is((tl_test.task(:c_id)).finished_at, now(), 'finished_at is now()');
SELECT is((tl_test.task(:c_id)).last_error, 'fatal', 'the error is stored');
SELECT ok((tl_test.task(:c_id)).lease_expires_at IS NULL, 'the lease is gone');
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'again'), NULL,
    'a failed task cannot be failed again');

SELECT * FROM finish();
ROLLBACK;

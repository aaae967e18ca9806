-- fail_task spends the handler-failure budget (failures against max_attempts)
-- and nothing else: requeue_count is untouched, and the failure that reaches
-- max_attempts fails the task.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT * FROM tl_test.claimed('w1', 60, 'default', '{}', 2) \gset c_
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'boom'),
    'queued'::tasklease.task_status, 'the first failure of two requeues');
SELECT is((tl_test.task(:c_id)).failures, 1, 'failures counts it');
SELECT is((tl_test.task(:c_id)).requeue_count, 0, 'the crash budget is untouched');

UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT is(tasklease.fail_task(:c_id, 'w1', :t2, 'boom again'),
    'failed'::tasklease.task_status, 'the failure that reaches max_attempts fails it');
SELECT is((tl_test.task(:c_id)).failures, 2, 'failures = max_attempts');
SELECT is((tl_test.task(:c_id)).requeue_count, 0, 'still no crash spent');
SELECT is((tl_test.task(:c_id)).last_error, 'boom again', 'the last error is kept');

SELECT * FROM finish();
ROLLBACK;

-- last_error is cut to max_error_len; a NULL error still records a failure.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

UPDATE tasklease.settings SET value = 10 WHERE name = 'max_error_len';
SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT tasklease.fail_task(:c_id, 'w1', :c_lease_token, repeat('e', 50)) AS st \gset
SELECT is(char_length((tl_test.task(:c_id)).last_error), 10, 'the error is cut to max_error_len');
SELECT id AS b, lease_token AS tb FROM tl_test.claimed('w1') \gset
SELECT is(tasklease.fail_task(:b, 'w1', :tb, NULL), 'queued'::tasklease.task_status,
    'a NULL error is accepted');
SELECT ok((tl_test.task(:b)).last_error IS NOT NULL, 'a placeholder error is stored');

SELECT * FROM finish();
ROLLBACK;

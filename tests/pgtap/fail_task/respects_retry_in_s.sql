-- An explicit retry_in_s replaces the backoff; 0 means runnable now.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'later', 42),
    'queued'::tasklease.task_status, 'queued');
SELECT is((tl_test.task(:c_id)).run_after, now() + interval '42 seconds',
    'run_after is exactly now() + retry_in_s');
SELECT id AS b, lease_token AS tb FROM tl_test.claimed('w1') \gset
SELECT tasklease.fail_task(:b, 'w1', :tb, 'now', 0) AS st \gset
SELECT is((SELECT id FROM tasklease.claim_task('w2')), :b::bigint,
    'retry_in_s 0 makes it claimable at once');

SELECT * FROM finish();
ROLLBACK;

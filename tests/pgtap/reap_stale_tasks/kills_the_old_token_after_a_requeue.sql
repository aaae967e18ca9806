-- After the reaper requeues a task, the old (task, owner, token) can neither
-- complete, fail nor renew it, even after the same owner re-claims it.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT tl_test.expire(:c_id, interval '1 second');
SELECT count(*) AS n FROM tasklease.reap_stale_tasks() \gset

SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false, 'complete: false');
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'late'), NULL, 'fail: NULL');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token), NULL, 'renew: NULL');

UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false,
    'after a re-claim by the same owner the old token still cannot complete');
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'late'), NULL,
    'nor fail');
SELECT is((tl_test.task(:c_id)).lease_token, :t2::bigint, 'the new lease is intact');

SELECT * FROM finish();
ROLLBACK;

-- renew_lease returns NULL, and changes nothing, for a wrong owner, a wrong
-- token, a task that was requeued, re-claimed, completed or never existed.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(10);

SELECT * FROM tl_test.claimed('w1', 60) \gset c_
SELECT * FROM tl_test.claimed('w1', 60) \gset o_

SELECT tl_test.state() AS before \gset
SELECT is(tasklease.renew_lease(:c_id, 'w2', :c_lease_token), NULL, 'wrong owner: NULL');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token + 1), NULL, 'wrong token: NULL');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :o_lease_token), NULL,
    'the token of another task of the same owner: NULL');
SELECT is(tasklease.renew_lease(-1, 'w1', :c_lease_token), NULL, 'unknown task: NULL');
SELECT is(tl_test.state(), :'before', 'refused renewals changed nothing');

-- Requeued by the reaper: the old token is dead, even though the row exists.
SELECT tl_test.expire(:c_id, interval '1 second');
SELECT is((SELECT count(*)::int FROM tasklease.reap_stale_tasks()), 1, 'the task is reaped');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token), NULL, 'requeued task: NULL');

-- Re-claimed by the same owner: the old token still does not renew.
UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token), NULL,
    're-claimed by the same owner: the old token gives NULL');

-- Completed: nothing left to renew, not even with the token that completed it.
SELECT ok(tasklease.complete_task(:c_id, 'w1', :t2), 'completed with the new token');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :t2), NULL, 'completed task: NULL');

SELECT * FROM finish();
ROLLBACK;

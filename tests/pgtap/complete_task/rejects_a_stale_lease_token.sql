-- A zombie (wrong owner, wrong token, a token of a requeued or re-claimed
-- task, even of the same owner) gets false and changes nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(10);

SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT tl_test.state() AS s0 \gset
SELECT is(tasklease.complete_task(:c_id, 'w2', :c_lease_token), false, 'wrong owner: false');
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token - 1), false, 'wrong token: false');
SELECT is(tasklease.complete_task(:c_id + 1000, 'w1', :c_lease_token), false,
    'unknown task: false');
SELECT is(tl_test.state(), :'s0', 'nothing changed');

SELECT tl_test.expire(:c_id, interval '1 microsecond');
SELECT is((SELECT action FROM tasklease.reap_stale_tasks()), 'requeued', 'the reaper requeues it');
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false,
    'the token of a requeued task is dead');
SELECT is((tl_test.task(:c_id)).status, 'queued'::tasklease.task_status, 'still queued');

UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT tl_test.state() AS s1 \gset
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false,
    're-claimed by the same owner: the old token is still refused');
SELECT is(tl_test.state(), :'s1', 'and changed nothing');
SELECT is(tasklease.complete_task(:c_id, 'w1', :t2), true, 'the new token completes it');

SELECT * FROM finish();
ROLLBACK;

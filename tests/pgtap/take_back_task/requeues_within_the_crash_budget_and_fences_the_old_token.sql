-- take_back_task treats the task as crashed: within the crash budget it is
-- requeued (requeue_count + 1, backoff), reason taken_back, and the old
-- holder's token is dead.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(8);

SELECT tl_test.worker('w1');
SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT is(tasklease.take_back_task(:c_id, :c_lease_token), true, 'it is taken back');
SELECT is((tl_test.task(:c_id)).status, 'queued'::tasklease.task_status, 'queued again');
SELECT is((tl_test.task(:c_id)).requeue_count, 1, 'one unit of the crash budget spent');
SELECT is((tl_test.task(:c_id)).failures, 0, 'the handler-failure budget is untouched');
SELECT ok((tl_test.task(:c_id)).run_after > now(), 'after the crash backoff');
SELECT is(
    (SELECT (l.action, l.reason, l.actor, l.owner_id, l.lease_token, l.db_user = session_user)::text
     FROM tasklease.reaper_log AS l WHERE l.task_id = :c_id),
    format('(requeued,taken_back,take_back_task,w1,%s,t)', :c_lease_token),
    'one log row: requeued, taken back, with the old owner and token'
);
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false,
    'the old holder can no longer complete it');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token), NULL, 'nor renew it');

SELECT * FROM finish();
ROLLBACK;

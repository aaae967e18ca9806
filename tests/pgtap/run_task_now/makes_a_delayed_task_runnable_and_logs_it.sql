-- run_task_now moves a waiting task's run_after to now(), so it is claimed
-- next, and logs it (rescheduled, operator).
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.enqueue('{}', 'default', now() + interval '1 hour') AS d \gset
SELECT is_empty($$SELECT * FROM tasklease.claim_task('w1')$$, 'a delayed task is not claimed');
SELECT is(tasklease.run_task_now(:d), true, 'it is made runnable');
SELECT is((tl_test.task(:d)).run_after, now(), 'run_after is now()');
SELECT is(
    (SELECT (l.action, l.reason, l.actor, l.db_user = session_user)::text
     FROM tasklease.reaper_log AS l WHERE l.task_id = :d),
    '(rescheduled,operator,run_task_now,t)', 'one log row: rescheduled by the operator'
);
SELECT is((SELECT id FROM tasklease.claim_task('w1')), :d::bigint, 'and it is claimed');

SELECT * FROM finish();
ROLLBACK;

-- complete_task by the holder marks the task completed, stores the result,
-- drops the lease and sets finished_at.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token, '{"ok": true, "n": 3}'), true,
    'complete_task returns true');
SELECT is((tl_test.task(:c_id)).status, 'completed'::tasklease.task_status, 'completed');
SELECT is((tl_test.task(:c_id)).result, '{"ok": true, "n": 3}'::jsonb, 'result is stored');
SELECT ok((tl_test.task(:c_id)).lease_expires_at IS NULL, 'the lease is gone');
SELECT is((tl_test.task(:c_id)).finished_at, now(), 'finished_at is now()');
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false,
    'a second completion is refused: at most one accepted completion');
SELECT is((tl_test.task(:c_id)).result, '{"ok": true, "n": 3}'::jsonb,
    'the refused second completion did not overwrite the result');

SELECT * FROM finish();
ROLLBACK;

-- With the crash budget spent, a task taken back fails, like a reaped one.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT * FROM tl_test.claimed('w1') \gset c_
UPDATE tasklease.tasks SET requeue_count = 3 WHERE id = :c_id;
SELECT is(tasklease.take_back_task(:c_id, :c_lease_token), true, 'it is taken back');
SELECT is((tl_test.task(:c_id)).status, 'failed'::tasklease.task_status, 'and failed');
SELECT is((SELECT action FROM tasklease.reaper_log WHERE task_id = :c_id), 'failed',
    'logged as failed');

SELECT * FROM finish();
ROLLBACK;

-- unschedule_task removes the periodic task and its pg_cron job (true), and
-- returns false when there was neither; tasks it enqueued stay.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.schedule_task('gone', '* * * * *', '{}') \g /dev/null
SELECT tasklease.enqueue_periodic('gone') AS task \gset
SELECT is(tasklease.unschedule_task('gone'), true, 'an existing task: true');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname = 'tasklease-periodic:gone'), 0,
    'its job is gone');
SELECT is((SELECT count(*)::int FROM tasklease.periodic_tasks), 0, 'and its definition');
SELECT is((tl_test.task(:task)).status, 'queued'::tasklease.task_status,
    'the task it enqueued stays');
SELECT is(tasklease.unschedule_task('gone'), false, 'a second call: false');

SELECT * FROM finish();
ROLLBACK;

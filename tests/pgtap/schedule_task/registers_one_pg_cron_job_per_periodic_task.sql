-- schedule_task stores the periodic task and registers the pg_cron job
-- tasklease-periodic:<name>, whose command enqueues it; scheduling the same
-- name again updates both in place (same job id); periodic_tasks shows it.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(8);

SELECT tasklease.schedule_task('nightly', '0 3 * * *', '{"report": 1}', 'reports') AS j1 \gset
SELECT results_eq(
    $$SELECT jobname::text COLLATE "default", schedule::text COLLATE "default",
          command COLLATE "default" FROM cron.job
      WHERE jobname LIKE 'tasklease-periodic:%'$$,
    $$VALUES ('tasklease-periodic:nightly', '0 3 * * *',
              'SELECT tasklease.enqueue_periodic(''nightly'')')$$,
    'one job, named after the task, enqueuing it'
);
SELECT is((SELECT jobid FROM cron.job WHERE jobname = 'tasklease-periodic:nightly'), :j1::bigint,
    'the returned id is the job''s');
SELECT results_eq(
    $$SELECT name, schedule, queue, payload, jobid, active FROM tasklease.periodic_tasks$$,
    format($$VALUES ('nightly', '0 3 * * *', 'reports', '{"report": 1}'::jsonb, %s::bigint, true)$$,
        :j1),
    'periodic_tasks shows the task and its job'
);

SELECT tasklease.schedule_task('nightly', '30 4 * * *', '{"report": 2}', 'reports', 3) AS j2 \gset
SELECT is(:j2::bigint, :j1::bigint, 'scheduling the same name again keeps the job id');
SELECT is((SELECT schedule::text FROM cron.job WHERE jobid = :j1), '30 4 * * *',
    'with the new schedule');
SELECT results_eq(
    $$SELECT payload, priority FROM tasklease.periodic_schedules WHERE name = 'nightly'$$,
    $$VALUES ('{"report": 2}'::jsonb, 3)$$, 'and the new payload and priority');

SELECT tasklease.schedule_task('hourly', '@hourly', '{}') \g /dev/null
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname LIKE 'tasklease-periodic:%'), 2,
    'another name is another job');
SELECT is((SELECT queue FROM tasklease.periodic_tasks WHERE name = 'hourly'), 'default',
    'queue defaults to default');

SELECT * FROM finish();
ROLLBACK;

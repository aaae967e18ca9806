-- schedule_reaper registers the pg_cron job tasklease-reaper; calling it again
-- leaves one job (updated in place).  The default schedule is every minute on
-- pg_cron < 1.5 and 30 seconds on 1.5+.  Needs pg_cron in this database.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT has_extension('pg_cron', 'pg_cron is installed in this database');
SELECT tasklease.unschedule_reaper() AS was \gset
SELECT tasklease.schedule_reaper() AS j1 \gset
SELECT tasklease.schedule_reaper() AS j2 \gset

SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname = 'tasklease-reaper'), 1,
    'two calls leave one tasklease-reaper job');
SELECT is(:j2::bigint, :j1::bigint, 'the second call returns the same job id');
SELECT is((SELECT jobid FROM cron.job WHERE jobname = 'tasklease-reaper'), :j1::bigint,
    'the returned id is the job''s id');
SELECT is(
    (SELECT schedule FROM cron.job WHERE jobname = 'tasklease-reaper'),
    CASE WHEN string_to_array(regexp_replace(
            (SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'), '[^0-9.].*$', ''),
            '.')::int [] >= ARRAY[1, 5]
        THEN '30 seconds' ELSE '* * * * *' END,
    'the default schedule fits the pg_cron version'
);
SELECT ok((SELECT command LIKE '%tasklease.reap_stale_tasks()%' FROM cron.job
    WHERE jobname = 'tasklease-reaper'), 'the job runs the reaper');

SELECT tasklease.schedule_reaper('*/2 * * * *') AS j3 \gset
SELECT is((SELECT schedule FROM cron.job WHERE jobname = 'tasklease-reaper'), '*/2 * * * *',
    'an explicit schedule replaces the old one in the same job');

SELECT * FROM finish();
ROLLBACK;

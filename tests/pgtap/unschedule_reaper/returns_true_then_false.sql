-- unschedule_reaper removes the tasklease jobs: true when a reaper job
-- existed, false on a second call.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.schedule_reaper() AS j \gset
SELECT is(tasklease.unschedule_reaper(), true, 'the first call removes the job: true');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname LIKE 'tasklease-%'), 0,
    'no tasklease job is left');
SELECT is(tasklease.unschedule_reaper(), false, 'the second call finds none: false');
SELECT isnt(tasklease.schedule_reaper(), NULL::bigint, 'scheduling again works');

SELECT * FROM finish();
ROLLBACK;

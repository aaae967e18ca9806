-- A schedule pg_cron rejects is TL011 and leaves the existing job alone.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT tasklease.schedule_reaper('* * * * *') AS j \gset
SELECT throws_ok($$SELECT tasklease.schedule_reaper('not a schedule')$$, 'TL011', NULL,
    'a nonsense schedule is TL011');
SELECT throws_ok($$SELECT tasklease.schedule_reaper('99 * * * *')$$, 'TL011', NULL,
    'an out-of-range minute is TL011');
SELECT is((SELECT schedule FROM cron.job WHERE jobname = 'tasklease-reaper'), '* * * * *',
    'the job keeps its schedule');

SELECT * FROM finish();
ROLLBACK;

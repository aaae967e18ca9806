-- '<n> seconds' schedules need pg_cron 1.5 or newer: accepted there, TL011
-- on older versions (Debian 12's 1.4), with nothing stored.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT tasklease._cron_version() >= ARRAY[1, 5] AS seconds_ok \gset
SELECT CASE WHEN :'seconds_ok'::boolean
    THEN lives_ok($$SELECT tasklease.schedule_task('s', '30 seconds', '{}')$$,
        'pg_cron 1.5+: a 30-second schedule is accepted')
    ELSE throws_ok($$SELECT tasklease.schedule_task('s', '30 seconds', '{}')$$, 'TL011', NULL,
        'pg_cron before 1.5: a 30-second schedule is TL011')
END;
SELECT is((SELECT count(*)::int FROM tasklease.periodic_schedules),
    CASE WHEN :'seconds_ok'::boolean THEN 1 ELSE 0 END,
    'stored only where pg_cron took it');

SELECT * FROM finish();
ROLLBACK;

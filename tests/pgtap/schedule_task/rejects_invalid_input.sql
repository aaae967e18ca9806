-- schedule_task refuses a bad name (TL007), a schedule a periodic task
-- cannot use (TL011), a NULL payload (TL004), a bad queue (TL005) and a bad
-- max_attempts (TL007); nothing is stored or scheduled then.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(11);

SELECT throws_ok($$SELECT tasklease.schedule_task(NULL, '* * * * *', '{}')$$, 'TL007', NULL,
    'a NULL name is TL007');
SELECT throws_ok($$SELECT tasklease.schedule_task('has space', '* * * * *', '{}')$$, 'TL007',
    NULL, 'a name with a space is TL007');
SELECT throws_ok($$SELECT tasklease.schedule_task(repeat('n', 64), '* * * * *', '{}')$$, 'TL007',
    NULL, 'a name of 64 characters is TL007');
SELECT throws_ok($$SELECT tasklease.schedule_task('n', 'every minute', '{}')$$, 'TL011', NULL,
    'a schedule that is not cron syntax is TL011');
SELECT throws_ok($$SELECT tasklease.schedule_task('n', '1/20 * * * *', '{}')$$, 'TL011', NULL,
    'a step without a range (which pg_cron refuses) is TL011');
SELECT throws_ok($$SELECT tasklease.schedule_task('n', '0 0 31 2 *', '{}')$$, 'TL011', NULL,
    'a schedule that never fires (February 31) is TL011');
SELECT throws_ok($$SELECT tasklease.schedule_task('n', '@reboot', '{}')$$, 'TL011', NULL,
    '@reboot has no ticks: TL011');
SELECT throws_ok($$SELECT tasklease.schedule_task('n', '* * * * *', NULL)$$, 'TL004', NULL,
    'a NULL payload is TL004');
SELECT throws_ok($$SELECT tasklease.schedule_task('n', '* * * * *', '{}', 'bad queue')$$, 'TL005',
    NULL, 'a bad queue is TL005');
SELECT throws_ok($$SELECT tasklease.schedule_task('n', '* * * * *', '{}', 'q', 0, 0)$$, 'TL007',
    NULL, 'max_attempts 0 is TL007');
SELECT is(
    (SELECT count(*)::int FROM tasklease.periodic_schedules)
    + (SELECT count(*)::int FROM cron.job WHERE jobname LIKE 'tasklease-periodic:%'),
    0, 'nothing was stored or scheduled');

SELECT * FROM finish();
ROLLBACK;

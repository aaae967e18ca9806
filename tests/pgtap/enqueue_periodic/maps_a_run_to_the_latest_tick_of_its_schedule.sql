-- The tick a run belongs to is the latest time at or before it that the
-- schedule names, in pg_cron's time zone (GMT here): minutes, steps, ranges,
-- lists, names, @macros, day-of-month OR weekday when both are restricted,
-- Sunday as 0 or 7, and '<n> seconds' as multiples of n seconds.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(1);

SET LOCAL timezone = 'UTC';
SELECT results_eq(
    $$SELECT s, tasklease._cron_last_tick(s, '2025-03-15 10:37:45+00')
      FROM unnest(ARRAY[
          '* * * * *', '*/5 * * * *', '0 3 * * *', '0 0 * * mon', '@hourly', '@weekly',
          '0 0 1 jan *', '0 0 29 2 *', '0 12 15 * fri', '0 0 * * 7',
          '15,45 9-17/2 * * 1-5', '30 seconds', '7 seconds'
      ]) WITH ORDINALITY AS u (s, n) ORDER BY n$$,
    $$VALUES
        ('* * * * *', '2025-03-15 10:37:00+00'::timestamptz),
        ('*/5 * * * *', '2025-03-15 10:35:00+00'),
        ('0 3 * * *', '2025-03-15 03:00:00+00'),
        ('0 0 * * mon', '2025-03-10 00:00:00+00'),
        ('@hourly', '2025-03-15 10:00:00+00'),
        ('@weekly', '2025-03-09 00:00:00+00'),
        ('0 0 1 jan *', '2025-01-01 00:00:00+00'),
        ('0 0 29 2 *', '2024-02-29 00:00:00+00'),
        ('0 12 15 * fri', '2025-03-14 12:00:00+00'),
        ('0 0 * * 7', '2025-03-09 00:00:00+00'),
        ('15,45 9-17/2 * * 1-5', '2025-03-14 17:45:00+00'),
        ('30 seconds', '2025-03-15 10:37:30+00'),
        ('7 seconds', '2025-03-15 10:37:44+00')$$,
    'each schedule maps 2025-03-15 10:37:45 (a Saturday) to its latest tick'
);

SELECT * FROM finish();
ROLLBACK;

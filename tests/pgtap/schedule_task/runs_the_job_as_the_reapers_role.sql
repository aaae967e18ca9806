-- A periodic task's job runs as the role of the reaper's job (bounded like
-- it), the owner when there is none; schedule_reaper moves the periodic jobs
-- along; a role that may not run enqueue_periodic is TL013, nothing scheduled.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

CREATE ROLE tl_test_cron LOGIN;
CREATE ROLE tl_test_weak LOGIN;
GRANT tasklease_admin TO tl_test_cron;

SELECT tasklease.unschedule_reaper() \g /dev/null
SELECT tasklease.schedule_task('a', '* * * * *', '{}') \g /dev/null
SELECT is((SELECT username::text FROM cron.job WHERE jobname = 'tasklease-periodic:a'),
    current_user::text, 'without a reaper job: the owner');

SELECT tasklease.schedule_reaper(run_as => 'tl_test_cron') \g /dev/null
SELECT is((SELECT username::text FROM cron.job WHERE jobname = 'tasklease-periodic:a'),
    'tl_test_cron', 'schedule_reaper moved the periodic job to its role');
SELECT tasklease.schedule_task('b', '* * * * *', '{}') \g /dev/null
SELECT is((SELECT username::text FROM cron.job WHERE jobname = 'tasklease-periodic:b'),
    'tl_test_cron', 'a new periodic task runs as the reaper''s role');

UPDATE cron.job SET username = 'tl_test_weak' WHERE jobname = 'tasklease-reaper';
SELECT throws_ok($$SELECT tasklease.schedule_task('c', '* * * * *', '{}')$$, 'TL013', NULL,
    'a reaper role that may not run enqueue_periodic is TL013');
SELECT is((SELECT count(*)::int FROM tasklease.periodic_schedules WHERE name = 'c'), 0,
    'and nothing was stored');

SELECT * FROM finish();
ROLLBACK;

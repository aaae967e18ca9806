-- schedule_reaper(run_as => r) makes pg_cron run both jobs as r (a role whose
-- statement_timeout bounds them); scheduling again as another role moves the
-- jobs rather than adding a second pair.  A role without LOGIN is refused:
-- pg_cron cannot run jobs as it.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

CREATE ROLE tl_test_cron LOGIN;
CREATE ROLE tl_test_nologin NOLOGIN;
GRANT tasklease_admin TO tl_test_cron;

SELECT tasklease.schedule_reaper(run_as => 'tl_test_cron') AS j1 \gset
SELECT is(
    (SELECT string_agg(jobname || ' as ' || username, ', ' ORDER BY jobname)
     FROM cron.job WHERE jobname LIKE 'tasklease-%'),
    'tasklease-prune as tl_test_cron, tasklease-reaper as tl_test_cron',
    'both jobs run as the run_as role'
);
SELECT is((SELECT jobid FROM cron.job WHERE jobname = 'tasklease-reaper'), :j1::bigint,
    'the returned id is the reaper job');

SELECT tasklease.schedule_reaper(run_as => 'tl_test_cron') AS j2 \gset
SELECT is(:j2::bigint, :j1::bigint, 'scheduling again as the same role keeps the job id');

SELECT tasklease.schedule_reaper() AS j3 \gset
SELECT is(
    (SELECT string_agg(jobname || ' as ' || username, ', ' ORDER BY jobname)
     FROM cron.job WHERE jobname LIKE 'tasklease-%'),
    format('tasklease-prune as %s, tasklease-reaper as %s', current_user, current_user),
    'scheduling as another role moves both jobs: still one of each'
);

SELECT throws_ok($$SELECT tasklease.schedule_reaper(run_as => 'tl_test_nologin')$$,
    'TL007', NULL, 'a run_as role without LOGIN is refused');
SELECT throws_ok($$SELECT tasklease.schedule_reaper(run_as => 'tl_test_no_such_role')$$,
    'TL007', NULL, 'an unknown run_as role is refused');

SELECT * FROM finish();
ROLLBACK;

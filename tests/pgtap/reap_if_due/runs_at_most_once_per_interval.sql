-- reap_if_due runs the reaper only when no reaper ran for reap_interval_s
-- (reap_stale_tasks records its runs too), so that live workers sharing it
-- reap at a bounded rate; its decisions name the worker that took them.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

UPDATE tasklease.reaper_runs SET last_run_at = '-infinity';
SELECT id AS a FROM tl_test.claimed('dead-1') \gset
SELECT tl_test.expire(:a, interval '1 second');

SELECT results_eq(
    $$SELECT task_id, action, reason FROM tasklease.reap_if_due('w-live')$$,
    format($$VALUES (%s::bigint, 'requeued', 'lease_expired')$$, :a),
    'the first call reaps'
);
SELECT is((SELECT actor FROM tasklease.reaper_log WHERE task_id = :a), 'reap_if_due:w-live',
    'the decision names the worker that took it');
SELECT is((SELECT last_actor FROM tasklease.reaper_runs), 'reap_if_due:w-live',
    'the run is recorded');

SELECT id AS b FROM tl_test.claimed('dead-2') \gset
SELECT tl_test.expire(:b, interval '1 second');
SELECT is_empty($$SELECT * FROM tasklease.reap_if_due('w-other')$$,
    'a second call within reap_interval_s does nothing');
SELECT is((tl_test.task(:b)).status, 'running'::tasklease.task_status, 'b is left for later');

UPDATE tasklease.reaper_runs SET last_run_at = now() - interval '6 seconds';
SELECT is((SELECT count(*)::int FROM tasklease.reap_if_due('w-other')), 1,
    'after reap_interval_s (5 s) it reaps again');

-- A pg_cron (or psql) run counts: the workers wait for the interval after it.
UPDATE tasklease.reaper_runs SET last_run_at = '-infinity';
SELECT count(*) AS n FROM tasklease.reap_stale_tasks() \gset
SELECT is((SELECT last_actor FROM tasklease.reaper_runs), 'reap_stale_tasks',
    'reap_stale_tasks records its run');

SELECT * FROM finish();
ROLLBACK;

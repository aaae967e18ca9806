-- At most batch tasks per call (default: the reap_batch setting), lowest ids
-- first; the rest are left for the next call.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT count(*) FROM (SELECT tl_test.claimed_id('w1') FROM generate_series(1, 5)) AS s \gset
UPDATE tasklease.tasks SET lease_expires_at = now() - interval '1 second';

SELECT results_eq(
    $$SELECT task_id FROM tasklease.reap_stale_tasks(2)$$,
    $$SELECT id FROM tasklease.tasks ORDER BY id LIMIT 2$$,
    'batch 2 reaps the two lowest ids'
);
SELECT is((SELECT count(*)::int FROM tasklease.tasks WHERE status = 'running'), 3,
    'three are still running');
UPDATE tasklease.settings SET value = 1 WHERE name = 'reap_batch';
SELECT is((SELECT count(*)::int FROM tasklease.reap_stale_tasks()), 1,
    'without batch, reap_batch bounds the call');
SELECT is((SELECT count(*)::int FROM tasklease.reap_stale_tasks(100)), 2,
    'a larger batch takes the rest');
SELECT is((SELECT count(*)::int FROM tasklease.reaper_log), 5, 'five decisions logged');

SELECT * FROM finish();
ROLLBACK;

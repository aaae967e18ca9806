-- prune() (what the tasklease-prune job runs) deletes old finished tasks and
-- old reaper_log rows in prune_batch batches until none is left, so that a
-- busy queue is kept small; with no budget left it stops after one batch.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

UPDATE tasklease.settings SET value = 3 WHERE name = 'prune_batch';
-- 10 old finished tasks, 1 recent one, 7 old log rows, 1 recent one.
INSERT INTO tasklease.tasks (payload, status, owner_id, lease_token, finished_at)
SELECT '{}', 'completed', 'w', g, now() - interval '8 days' FROM generate_series(1, 10) AS g;
INSERT INTO tasklease.tasks (payload, status, owner_id, lease_token, finished_at)
VALUES ('{}', 'completed', 'w', 11, now() - interval '1 hour');
INSERT INTO tasklease.reaper_log (at, task_id, action, reason, actor)
SELECT now() - interval '31 days', g, 'requeued', 'lease_expired', 'test'
FROM generate_series(1, 7) AS g;
INSERT INTO tasklease.reaper_log (task_id, action, reason, actor)
VALUES (99, 'requeued', 'lease_expired', 'test');

SELECT results_eq($$SELECT * FROM tasklease.prune(0)$$, $$VALUES (3::bigint, 3::bigint)$$,
    'with no budget left, one batch of each');
SELECT results_eq($$SELECT * FROM tasklease.prune()$$, $$VALUES (7::bigint, 4::bigint)$$,
    'within the budget, batches until nothing old is left (10 tasks and 7 log rows in all)');
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 1, 'the recent finished task is kept');
SELECT is((SELECT count(*)::int FROM tasklease.reaper_log), 1, 'the recent log row is kept');
SELECT results_eq($$SELECT * FROM tasklease.prune()$$, $$VALUES (0::bigint, 0::bigint)$$,
    'then nothing');
SELECT throws_ok($$SELECT * FROM tasklease.prune(-1)$$, 'TL002', NULL,
    'a negative budget is TL002');
SELECT ok((SELECT command LIKE '%tasklease.prune()%' FROM cron.job
           WHERE jobname = 'tasklease-prune') OR NOT EXISTS (
           SELECT 1 FROM cron.job WHERE jobname = 'tasklease-prune'),
    'the scheduled prune job runs prune()');

SELECT * FROM finish();
ROLLBACK;

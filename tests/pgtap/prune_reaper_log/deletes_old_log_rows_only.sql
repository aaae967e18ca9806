-- prune_reaper_log deletes log rows older than log_retention_s, at most batch
-- per call.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

INSERT INTO tasklease.reaper_log (at, task_id, action, reason, actor)
SELECT now() - interval '2592000 seconds 1 microsecond', g, 'requeued', 'lease_expired', 'test'
FROM generate_series(1, 3) AS g;
INSERT INTO tasklease.reaper_log (at, task_id, action, reason, actor)
VALUES (now() - interval '2592000 seconds', 9, 'requeued', 'lease_expired', 'test');

SELECT is(tasklease.prune_reaper_log(2), 2, 'at most batch rows per call');
SELECT is(tasklease.prune_reaper_log(), 1, 'then the last old one');
SELECT is((SELECT array_agg(task_id) FROM tasklease.reaper_log), ARRAY[9::bigint],
    'a row exactly at retention is kept');
SELECT throws_ok($$SELECT tasklease.prune_reaper_log(0)$$, 'TL003', NULL, 'batch 0 is TL003');
SELECT throws_ok($$SELECT tasklease.prune_reaper_log(10001)$$, 'TL003', NULL,
    'batch above max_batch is TL003');

SELECT * FROM finish();
ROLLBACK;

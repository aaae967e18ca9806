-- prune_finished_tasks deletes finished tasks older than finished_retention_s,
-- at most batch per call; never queued or running ones.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(8);

SELECT tasklease.enqueue('{}') AS q \gset
SELECT tl_test.claimed_id('w1') AS r \gset
SELECT id AS d1, lease_token AS t1 FROM tl_test.claimed('w1') \gset
SELECT id AS d2, lease_token AS t2 FROM tl_test.claimed('w1') \gset
SELECT id AS d3, lease_token AS t3 FROM tl_test.claimed('w1') \gset
SELECT id AS fresh, lease_token AS tf FROM tl_test.claimed('w1') \gset
SELECT count(*) AS n FROM tasklease.complete_tasks('w1', ARRAY[:d1, :d2, :fresh],
    ARRAY[:t1, :t2, :tf]) \gset
SELECT tasklease.fail_task(:d3, 'w1', :t3, 'x', 0) AS st \gset
UPDATE tasklease.tasks SET status = 'cancelled', finished_at = now() WHERE id = :d3;
UPDATE tasklease.tasks SET finished_at = now() - interval '604800 seconds 1 microsecond'
WHERE id IN (:d1, :d2, :d3);
UPDATE tasklease.tasks SET finished_at = now() - interval '604800 seconds' WHERE id = :fresh;
UPDATE tasklease.tasks SET created_at = now() - interval '30 days' WHERE id IN (:q, :r);

SELECT is(tasklease.prune_finished_tasks(2), 2, 'at most batch tasks per call');
SELECT is(tasklease.prune_finished_tasks(), 1, 'then the last old one');
SELECT is(tasklease.prune_finished_tasks(), 0, 'then none');
SELECT is_empty(format('SELECT 1 FROM tasklease.tasks WHERE id IN (%s, %s, %s)', :d1, :d2, :d3),
    'completed, failed and cancelled tasks past retention are gone');
SELECT isnt(tl_test.task(:fresh), NULL, 'a task finished exactly at retention is kept');
SELECT isnt(tl_test.task(:q), NULL, 'an old queued task is kept');
SELECT isnt(tl_test.task(:r), NULL, 'an old running task is kept');
SELECT throws_ok($$SELECT tasklease.prune_finished_tasks(0)$$, 'TL003', NULL,
    'batch 0 is TL003');

SELECT * FROM finish();
ROLLBACK;

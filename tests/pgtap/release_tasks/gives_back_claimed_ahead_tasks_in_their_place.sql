-- release_tasks gives back the tasks whose lease the owner still holds, free
-- (attempts restored, requeue_count unchanged) and in their place (run_after
-- and priority unchanged), one reaper_log row each; a lease that is no longer
-- held (another owner's, a stale token, a finished task) is left alone.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(12);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1') \gset
SELECT id AS b, lease_token AS tb FROM tl_test.claimed('w1') \gset
SELECT id AS c, lease_token AS tc FROM tl_test.claimed('w2') \gset
SELECT id AS d, lease_token AS td FROM tl_test.claimed('w1') \gset
UPDATE tasklease.tasks SET requeue_count = 2, run_after = now() - interval '1 hour',
    priority = -3
WHERE id = :a;
SELECT tasklease.complete_task(:d, 'w1', :td);

SELECT results_eq(
    format($$SELECT * FROM tasklease.release_tasks('w1', ARRAY[%s, %s, %s, %s]::bigint[],
             ARRAY[%s, %s, %s, %s]::bigint[])$$, :a, :b, :c, :d, :ta, :tb + 1000, :tc, :td),
    format($$VALUES (%s::bigint)$$, :a),
    'only the lease w1 holds with that token is given back'
);
SELECT is((tl_test.task(:a)).status, 'queued'::tasklease.task_status, 'a is queued');
SELECT is((tl_test.task(:a)).attempts, 0, 'a''s attempts are restored');
SELECT is((tl_test.task(:a)).requeue_count, 2, 'a''s requeue_count is unchanged');
SELECT is((tl_test.task(:a)).run_after, now() - interval '1 hour', 'a keeps its run_after');
SELECT is((tl_test.task(:a)).priority, -3, 'a keeps its priority');
SELECT ok((tl_test.task(:a)).owner_id IS NULL AND (tl_test.task(:a)).lease_token IS NULL,
    'a has no owner or token');
SELECT is((tl_test.task(:b)).status, 'running'::tasklease.task_status,
    'b (a token that is not its own) is still running');
SELECT is((tl_test.task(:c)).owner_id, 'w2', 'w2''s task is untouched');
SELECT is((tl_test.task(:d)).status, 'completed'::tasklease.task_status,
    'the completed task stays completed');
SELECT results_eq(
    format($$SELECT action, reason, owner_id, lease_token, actor FROM tasklease.reaper_log
             WHERE task_id = %s$$, :a),
    format($$VALUES ('released', 'released', 'w1', %s::bigint, 'release_tasks')$$, :ta),
    'a reaper_log row records the release with owner and token'
);
SELECT is(tasklease.complete_task(:a, 'w1', :ta), false, 'the given-back token is dead');

SELECT * FROM finish();
ROLLBACK;

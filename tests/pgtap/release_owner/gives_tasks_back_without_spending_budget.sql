-- release_owner requeues every task the owner runs, runnable now, as if it
-- had never been claimed: attempts restored, requeue_count unchanged, one
-- reaper_log row 'released' per task; other owners' tasks are untouched.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(12);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1') \gset
SELECT id AS b FROM tl_test.claimed('w1') \gset
SELECT id AS c FROM tl_test.claimed('w2') \gset
UPDATE tasklease.tasks SET requeue_count = 2 WHERE id = :a;

SELECT is(tasklease.release_owner('w1'), 2, 'two tasks released');
SELECT is((tl_test.task(:a)).status, 'queued'::tasklease.task_status, 'a is queued');
SELECT is((tl_test.task(:a)).attempts, 0, 'a''s attempts are restored');
SELECT is((tl_test.task(:a)).requeue_count, 2, 'a''s requeue_count is unchanged');
SELECT is((tl_test.task(:a)).run_after, now(), 'a is runnable now');
SELECT ok((tl_test.task(:a)).owner_id IS NULL AND (tl_test.task(:a)).lease_token IS NULL,
    'a has no owner or token');
SELECT is((tl_test.task(:b)).status, 'queued'::tasklease.task_status, 'b is queued');
SELECT is((tl_test.task(:c)).owner_id, 'w2', 'w2''s task is untouched');
SELECT results_eq(
    format($$SELECT action, reason, owner_id, lease_token, actor FROM tasklease.reaper_log
             WHERE task_id = %s$$, :a),
    format($$VALUES ('released', 'released', 'w1', %s::bigint, 'release_owner')$$, :ta),
    'a reaper_log row records the release with owner and token'
);
SELECT is((SELECT count(*)::int FROM tasklease.reaper_log), 2, 'one log row per released task');
SELECT is(tasklease.complete_task(:a, 'w1', :ta), false, 'the released token is dead');
SELECT is(tasklease.release_owner('w1'), 0, 'nothing left to release');

SELECT * FROM finish();
ROLLBACK;

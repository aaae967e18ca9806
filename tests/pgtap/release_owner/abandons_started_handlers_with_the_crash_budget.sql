-- release_owner(owner, started): a task whose handler was still running when
-- the grace period ended is abandoned, a crash: requeued with backoff and
-- requeue_count + 1 while the crash budget lasts (reason abandoned), failed
-- after; its claim stays counted.  The owner's unstarted tasks are given back
-- free in the same call, and another owner's task listed in started is not
-- touched.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(11);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1') \gset
SELECT id AS b FROM tl_test.claimed('w1') \gset
SELECT id AS c FROM tl_test.claimed('w2') \gset

SELECT is(tasklease.release_owner('w1', ARRAY[:a, :c]::bigint []), 2,
    'both tasks of w1 are given back');
SELECT is((tl_test.task(:a)).status, 'queued'::tasklease.task_status, 'a is requeued');
SELECT is((tl_test.task(:a)).requeue_count, 1, 'a spent one crash');
SELECT is((tl_test.task(:a)).attempts, 1, 'a''s claim stays counted');
SELECT ok((tl_test.task(:a)).run_after > now(), 'a waits a backoff');
SELECT results_eq(
    format($$SELECT action, reason, owner_id, lease_token, actor FROM tasklease.reaper_log
             WHERE task_id = %s$$, :a),
    format($$VALUES ('requeued', 'abandoned', 'w1', %s::bigint, 'release_owner')$$, :ta),
    'the abandonment is logged with its own reason, owner and token'
);
SELECT ok((tl_test.task(:b)).requeue_count = 0 AND (tl_test.task(:b)).attempts = 0,
    'the unstarted task b is released free');
SELECT is((tl_test.task(:c)).owner_id, 'w2', 'another owner''s task is untouched');

-- A handler that never returns: once max_requeue is spent, the next deploy fails it.
UPDATE tasklease.tasks SET requeue_count = 3, run_after = now() WHERE id = :a;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT is(tasklease.release_owner('w1', ARRAY[:a]::bigint []), 1, 'released again');
SELECT is((tl_test.task(:a)).status, 'failed'::tasklease.task_status,
    'past max_requeue an abandoned task fails');
SELECT alike((tl_test.task(:a)).last_error, '%last reason abandoned%',
    'last_error names the reason');

SELECT * FROM finish();
ROLLBACK;

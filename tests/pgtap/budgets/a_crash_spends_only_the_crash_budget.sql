-- A crash (the reaper's lease_expired or owner_dead) spends the crash budget
-- (requeue_count against max_requeue) and never the handler-failure budget:
-- a task with max_attempts 1 that crashed still gets its one handler run.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(8);

SELECT * FROM tl_test.claimed('w1', 60, 'default', '{}', 1) \gset c_
SELECT tl_test.expire(:c_id, interval '1 second');
SELECT is((SELECT action FROM tasklease.reap_stale_tasks()), 'requeued', 'the crash requeues');
SELECT is((tl_test.task(:c_id)).requeue_count, 1, 'requeue_count counts it');
SELECT is((tl_test.task(:c_id)).failures, 0, 'the handler-failure budget is untouched');

-- owner_dead: another crash, same budget.
UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT tl_test.worker('w1', interval '10 minutes');
SELECT is((SELECT reason FROM tasklease.reap_stale_tasks()), 'owner_dead', 'the owner died');
SELECT is((tl_test.task(:c_id)).requeue_count, 2, 'a second crash');
SELECT is((tl_test.task(:c_id)).attempts, 2, 'two claims so far');

-- The one handler run max_attempts 1 allows is still there: its failure ends it.
UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t3 FROM tasklease.claim_task('w2') \gset
SELECT is(tasklease.fail_task(:c_id, 'w2', :t3, 'boom'), 'failed'::tasklease.task_status,
    'the first handler failure of max_attempts 1 fails the task');
SELECT is((tl_test.task(:c_id)).failures, 1, 'one handler failure');

SELECT * FROM finish();
ROLLBACK;

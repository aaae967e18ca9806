-- recover_owner treats what the owner's previous life still runs as crashed:
-- reason owner_restarted, the reaper's budget rule, logged; valid leases too.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(13);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1', 3600) \gset
SELECT id AS b FROM tl_test.claimed('w1', 3600) \gset
SELECT id AS c FROM tl_test.claimed('w2', 3600) \gset
UPDATE tasklease.tasks SET requeue_count = 3 WHERE id = :b;

SELECT is(tasklease.recover_owner('w1'), 2, 'two tasks recovered, though their leases are valid');
SELECT is((tl_test.task(:a)).status, 'queued'::tasklease.task_status,
    'within budget: requeued');
SELECT is((tl_test.task(:a)).requeue_count, 1, 'requeue_count + 1');
SELECT is((tl_test.task(:a)).attempts, 1, 'attempts keep the crashed claim');
SELECT ok((tl_test.task(:a)).run_after > now(), 'run_after is in the future (requeue backoff)');
SELECT is((tl_test.task(:b)).status, 'failed'::tasklease.task_status,
    'budget exhausted: failed');
SELECT is((tl_test.task(:b)).finished_at, now(), 'finished_at is set');
SELECT is((tl_test.task(:b)).requeue_count, 3, 'requeue_count is not increased past the budget');
SELECT is((tl_test.task(:c)).status, 'running'::tasklease.task_status,
    'another owner''s task is untouched');
SELECT set_eq(
    $$SELECT task_id, action, reason, owner_id, actor FROM tasklease.reaper_log$$,
    format($$VALUES (%s::bigint, 'requeued', 'owner_restarted', 'w1', 'recover_owner'),
        (%s::bigint, 'failed', 'owner_restarted', 'w1', 'recover_owner')$$, :a, :b),
    'each decision is logged with reason owner_restarted'
);
SELECT is((SELECT lease_token FROM tasklease.reaper_log WHERE task_id = :a), :ta::bigint,
    'the log keeps the token taken back');
SELECT is(tasklease.complete_task(:a, 'w1', :ta), false, 'the old token is dead');
SELECT is(tasklease.recover_owner('w1'), 0, 'nothing left to recover');

SELECT * FROM finish();
ROLLBACK;

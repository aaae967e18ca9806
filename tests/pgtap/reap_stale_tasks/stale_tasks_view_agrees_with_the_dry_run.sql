-- The stale_tasks view shows what the reaper would do: the same tasks,
-- actions and reasons as a dry run.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT tl_test.worker('dead', interval '2 minutes');
SELECT tl_test.worker('stopped', interval '0', true);
SELECT tl_test.claimed_id('dead') AS a \gset
SELECT tl_test.claimed_id('stopped') AS b \gset
SELECT tl_test.claimed_id('w1') AS c \gset
SELECT tl_test.expire(:c, interval '1 microsecond');
SELECT tl_test.claimed_id('w1') AS d \gset
UPDATE tasklease.tasks SET requeue_count = 5 WHERE id = :d;
SELECT tl_test.expire(:d, interval '1 hour');
SELECT tl_test.lease_less('w2', interval '901 seconds') AS e \gset
SELECT tl_test.claimed_id('w1') AS ok1 \gset
SELECT tl_test.lease_less('w2', interval '10 seconds') AS ok2 \gset

SELECT set_eq(
    $$SELECT task_id, action, reason, owner_id, attempts FROM tasklease.stale_tasks$$,
    $$SELECT task_id, action, reason, owner_id, attempts FROM tasklease.reap_stale_tasks(NULL, true)$$,
    'stale_tasks and a dry run agree'
);
SELECT is((SELECT count(*)::int FROM tasklease.stale_tasks), 5, 'five stale tasks');
SELECT is((SELECT action FROM tasklease.stale_tasks WHERE task_id = :d), 'failed',
    'the view applies the budget');

SELECT * FROM finish();
ROLLBACK;

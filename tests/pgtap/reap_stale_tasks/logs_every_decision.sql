-- Every reaper decision is one reaper_log row with the task, action, reason,
-- the owner and token it took back, and the actor.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1') \gset
SELECT id AS b, lease_token AS tb FROM tl_test.claimed('w2') \gset
UPDATE tasklease.tasks SET requeue_count = 3 WHERE id = :b;
UPDATE tasklease.tasks SET lease_expires_at = now() - interval '1 second';
SELECT count(*) AS n FROM tasklease.reap_stale_tasks() \gset

SELECT set_eq(
    $$SELECT task_id, action, reason, owner_id, lease_token, actor FROM tasklease.reaper_log$$,
    format($$VALUES (%s::bigint, 'requeued', 'lease_expired', 'w1', %s::bigint, 'reap_stale_tasks'),
        (%s::bigint, 'failed', 'lease_expired', 'w2', %s::bigint, 'reap_stale_tasks')$$,
        :a, :ta, :b, :tb),
    'one row per decision with action, reason, owner, token and actor'
);
SELECT is((SELECT requeue_count FROM tasklease.reaper_log WHERE task_id = :a), 1,
    'the log records the requeue_count after the decision');
SELECT is((SELECT attempts FROM tasklease.reaper_log WHERE task_id = :a), 1,
    'and the attempts');
SELECT is((SELECT count(*)::int FROM tasklease.reaper_log WHERE at = now()), 2,
    'stamped with the database clock');

SELECT * FROM finish();
ROLLBACK;

-- cleanup_stale_tasks is time-based only: a running task not renewed (or,
-- without a lease, not updated) for more than stale_s is taken back, whatever
-- its lease or its owner's heartbeat say.  Exactly stale_s old is kept.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(8);

SELECT tl_test.worker('alive', interval '0');
SELECT id AS old_valid_lease FROM tl_test.claimed('alive', 86400) \gset
UPDATE tasklease.tasks SET last_heartbeat = now() - interval '300 seconds 1 microsecond'
WHERE id = :old_valid_lease;
SELECT tl_test.claimed_id('w1') AS at_limit \gset
UPDATE tasklease.tasks SET last_heartbeat = now() - interval '300 seconds' WHERE id = :at_limit;
SELECT tl_test.claimed_id('w1') AS expired_recent \gset
SELECT tl_test.expire(:expired_recent, interval '1 hour');
SELECT tl_test.lease_less('w2', interval '301 seconds') AS bare_old \gset
SELECT tl_test.lease_less('w2', interval '300 seconds') AS bare_at_limit \gset

SELECT set_eq(
    $$SELECT task_id, action, reason FROM tasklease.cleanup_stale_tasks(300)$$,
    format($$VALUES (%s::bigint, 'requeued', 'cleanup'), (%s::bigint, 'requeued', 'cleanup')$$,
        :old_valid_lease, :bare_old),
    'tasks idle for more than stale_s are cleaned up, with reason cleanup'
);
SELECT is((tl_test.task(:old_valid_lease)).status, 'queued'::tasklease.task_status,
    'a valid lease of a live owner does not protect an idle task');
SELECT is((tl_test.task(:at_limit)).status, 'running'::tasklease.task_status,
    'exactly stale_s idle is kept');
SELECT is((tl_test.task(:expired_recent)).status, 'running'::tasklease.task_status,
    'a recently renewed task with an expired lease is kept (no lease rule here)');
SELECT is((tl_test.task(:bare_at_limit)).status, 'running'::tasklease.task_status,
    'a lease-less task updated exactly stale_s ago is kept');
SELECT is((tl_test.task(:bare_old)).requeue_count, 1, 'a requeue is counted');
SELECT set_eq(
    $$SELECT task_id, action, reason, actor FROM tasklease.reaper_log$$,
    format($$VALUES (%s::bigint, 'requeued', 'cleanup', 'cleanup_stale_tasks'),
        (%s::bigint, 'requeued', 'cleanup', 'cleanup_stale_tasks')$$, :old_valid_lease, :bare_old),
    'each decision is logged with reason cleanup'
);

UPDATE tasklease.settings SET value = 1 WHERE name = 'stale_s';
SELECT is((SELECT count(*)::int FROM tasklease.cleanup_stale_tasks()), 2,
    'without stale_s the stale_s setting applies');

SELECT * FROM finish();
ROLLBACK;

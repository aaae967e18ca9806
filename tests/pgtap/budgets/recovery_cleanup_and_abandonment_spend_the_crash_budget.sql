-- Every other crash path spends requeue_count and only it, and fails the task
-- once max_requeue is spent: recover_owner (owner_restarted),
-- cleanup_stale_tasks (cleanup), release_owner of a started handler
-- (abandoned).
BEGIN;
\ir ../_fixtures.psql
SELECT plan(10);

UPDATE tasklease.settings SET value = 1 WHERE name = 'max_requeue';

SELECT id AS r FROM tl_test.claimed('w1') \gset
SELECT is(tasklease.recover_owner('w1'), 1, 'recover_owner acts');
SELECT ok((tl_test.task(:r)).requeue_count = 1 AND (tl_test.task(:r)).failures = 0,
    'recover_owner: one crash, no failure');

SELECT id AS c FROM tl_test.claimed('w2') \gset
UPDATE tasklease.tasks SET last_heartbeat = now() - interval '1 hour',
    updated_at = now() - interval '1 hour' WHERE id = :c;
SELECT is((SELECT count(*)::int FROM tasklease.cleanup_stale_tasks(60)), 1, 'cleanup acts');
SELECT ok((tl_test.task(:c)).requeue_count = 1 AND (tl_test.task(:c)).failures = 0,
    'cleanup: one crash, no failure');

SELECT id AS a FROM tl_test.claimed('w3') \gset
SELECT is(tasklease.release_owner('w3', ARRAY[:a]::bigint []), 1, 'release_owner acts');
SELECT ok((tl_test.task(:a)).requeue_count = 1 AND (tl_test.task(:a)).failures = 0,
    'abandoned: one crash, no failure');

-- Budget spent (max_requeue 1): the next crash of each fails it.
UPDATE tasklease.tasks SET run_after = now() WHERE id = :r;
SELECT is((SELECT id FROM tasklease.claim_task('w1')), :r::bigint, 'r runs again');
SELECT is(tasklease.recover_owner('w1'), 1, 'recover_owner acts again');
SELECT is((tl_test.task(:r)).status, 'failed'::tasklease.task_status,
    'past max_requeue the crash fails the task');
SELECT alike((tl_test.task(:r)).last_error, 'requeue budget exhausted%',
    'last_error says the crash budget is spent');

SELECT * FROM finish();
ROLLBACK;

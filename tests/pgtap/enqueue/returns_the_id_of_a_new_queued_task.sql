-- enqueue inserts one queued, unowned task with the defaults of the contract
-- and returns its id.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(14);

SELECT tasklease.enqueue('{"job": "send", "n": 1}') AS id \gset

SELECT is((SELECT count(*)::int FROM tasklease.tasks), 1, 'one task was added');
SELECT is((SELECT id FROM tasklease.tasks), :id::bigint, 'the returned id is the task''s id');
SELECT is((tl_test.task(:id)).status, 'queued'::tasklease.task_status, 'it is queued');
SELECT is((tl_test.task(:id)).queue, 'default', 'queue defaults to default');
SELECT is((tl_test.task(:id)).payload, '{"job": "send", "n": 1}'::jsonb, 'payload is stored');
SELECT is((tl_test.task(:id)).priority, 0, 'priority defaults to 0');
SELECT is((tl_test.task(:id)).run_after, now(), 'run_after defaults to now()');
SELECT is((tl_test.task(:id)).max_attempts, 5, 'max_attempts defaults to the setting');
SELECT is((tl_test.task(:id)).attempts, 0, 'no attempts yet');
SELECT is((tl_test.task(:id)).requeue_count, 0, 'no requeues yet');
SELECT ok((tl_test.task(:id)).owner_id IS NULL AND (tl_test.task(:id)).lease_token IS NULL
    AND (tl_test.task(:id)).lease_expires_at IS NULL, 'no owner, token or lease');
SELECT ok((tl_test.task(:id)).finished_at IS NULL, 'not finished');
SELECT is((tl_test.task(:id)).created_at, now(), 'created_at is the database clock');

SELECT cmp_ok(tasklease.enqueue('{}'), '>', :id::bigint, 'ids increase');

SELECT * FROM finish();
ROLLBACK;

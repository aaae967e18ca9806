-- A caller who puts decoys first on its search_path (a schema with its own
-- tasks table, settings table and now() function, plus a temporary table
-- named tasks, which PostgreSQL searches before everything else) cannot
-- redirect the SECURITY DEFINER functions: they read and write the real
-- tasklease.tasks with the real clock, and the decoys stay untouched.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(17);

CREATE ROLE tl_test_hijacker NOLOGIN;
GRANT tasklease_worker, tasklease_producer TO tl_test_hijacker;
CREATE SCHEMA tl_decoy AUTHORIZATION tl_test_hijacker;

SET LOCAL ROLE tl_test_hijacker;
CREATE TABLE tl_decoy.tasks AS SELECT * FROM tasklease.get_task(-1);
INSERT INTO tl_decoy.tasks (id, queue, payload, priority, status, run_after, attempts,
    max_attempts, requeue_count, created_at, updated_at)
VALUES (1, 'sec', '{"decoy": "schema"}', -100, 'queued', '2000-01-01', 0, 5, 0, now(), now());
CREATE TABLE tl_decoy.settings (name text, value int, description text);
INSERT INTO tl_decoy.settings VALUES ('lease_s', 1, 'decoy'), ('max_owner_len', 1, 'decoy');
CREATE FUNCTION tl_decoy.now() RETURNS timestamptz
LANGUAGE sql AS $$ SELECT '2000-01-01 00:00:00+00'::timestamptz $$;
CREATE TEMP TABLE tasks AS SELECT * FROM tl_decoy.tasks;
UPDATE pg_temp.tasks SET payload = '{"decoy": "temp"}';
SET LOCAL search_path = tl_decoy, pg_catalog, public;

-- Under the hijacker's role and search_path: use the API as a producer and
-- a worker.  Results are captured and asserted after RESET ROLE.
SELECT now() AS decoy_now, (SELECT count(*) FROM tasks) AS temp_rows \gset
SELECT tasklease.enqueue('{"real": true}', 'sec') AS id \gset
SELECT * FROM tasklease.claim_task('hijacker-worker-name', 'sec') \gset c_
SELECT tasklease.renew_lease(:c_id, 'hijacker-worker-name', :c_lease_token) AS renewed \gset
SELECT tasklease.complete_task(:c_id, 'hijacker-worker-name', :c_lease_token, '{"r": 1}')
    AS completed \gset
SELECT tl_test.sqlstate_of('SELECT * FROM tasklease.reap_stale_tasks()') AS reap_code \gset

RESET ROLE;
SET LOCAL search_path TO DEFAULT;

SELECT is(:'decoy_now'::timestamptz, '2000-01-01 00:00:00+00'::timestamptz,
    'the decoy now() was active for the caller (the test does hijack)');
SELECT is(:temp_rows::int, 1, 'the temporary tasks table shadowed the name for the caller');
SELECT is(:c_id::bigint, :id::bigint, 'the claim took the real task, not a decoy row');
SELECT is(:'c_payload'::jsonb, '{"real": true}'::jsonb, 'the claimed payload is the real one');
SELECT is((tl_test.task(:id)).created_at, now(), 'enqueue used the real clock');
SELECT is(:'c_lease_expires_at'::timestamptz, now() + interval '600 seconds',
    'the lease uses the real clock and the real lease_s setting');
SELECT is(:'renewed'::timestamptz, now() + interval '600 seconds',
    'the renewal uses the real clock');
SELECT is(:'completed'::boolean, true, 'the completion is accepted');
SELECT is((tl_test.task(:id)).status, 'completed'::tasklease.task_status,
    'the real task is completed');
SELECT is((tl_test.task(:id)).result, '{"r": 1}'::jsonb, 'with the result');
SELECT is((tl_test.task(:id)).finished_at, now(), 'finished_at uses the real clock');
SELECT is((tl_test.task(:id)).owner_id, 'hijacker-worker-name',
    'a long owner was accepted: the decoy max_owner_len was not read');
SELECT results_eq(
    $$SELECT id, status::text, payload, owner_id FROM tl_decoy.tasks$$,
    $$VALUES (1::bigint, 'queued', '{"decoy": "schema"}'::jsonb, NULL::text)$$,
    'the decoy schema table is untouched'
);
SELECT is((SELECT count(*)::int FROM tasklease.tasks WHERE queue = 'sec'), 1,
    'exactly one real task in the queue');
SELECT is((SELECT value FROM tasklease.settings WHERE name = 'lease_s'), 600,
    'the real settings are untouched');
SELECT is(:'reap_code'::text, '42501', 'a worker-and-producer role may not run the reaper');
SELECT is_empty(
    $$SELECT 1 FROM pg_class WHERE relname = 'tasks' AND relpersistence = 't'
        AND relnamespace <> pg_my_temp_schema()$$,
    'no other temporary tasks table was created by the functions'
);

SELECT * FROM finish();
ROLLBACK;

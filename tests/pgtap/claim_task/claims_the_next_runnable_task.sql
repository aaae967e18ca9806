-- claim_task takes a queued task and makes it a running, fenced lease of the
-- owner: token, expiry now() + lease_s, attempts + 1; the returned row
-- matches the table.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(13);

SELECT tasklease.enqueue('{"k": "v"}', 'q1') AS id \gset
SELECT * FROM tasklease.claim_task('w1', NULL, 120) \gset c_

SELECT is(:c_id::bigint, :id::bigint, 'the queued task is claimed');
SELECT is(:'c_queue'::text, 'q1', 'the claim returns the queue');
SELECT is(:'c_payload'::jsonb, '{"k": "v"}'::jsonb, 'the claim returns the payload');
SELECT is(:c_attempts::int, 1, 'the claim returns attempts = 1');
SELECT is((tl_test.task(:id)).status, 'running'::tasklease.task_status, 'the task is running');
SELECT is((tl_test.task(:id)).owner_id, 'w1', 'the owner is set');
SELECT is((tl_test.task(:id)).lease_token, :c_lease_token::bigint,
    'the returned token is the task''s token');
SELECT is((tl_test.task(:id)).lease_expires_at, now() + interval '120 seconds',
    'the lease expires lease_s seconds from now()');
SELECT is(:'c_lease_expires_at'::timestamptz, now() + interval '120 seconds',
    'the returned expiry is the task''s expiry');
SELECT is((tl_test.task(:id)).attempts, 1, 'attempts counts the claim');
SELECT is((tl_test.task(:id)).last_heartbeat, now(), 'last_heartbeat is set by the claim');
SELECT is((tl_test.task(:id)).updated_at, now(), 'updated_at is set by the claim');
SELECT is_empty($$SELECT * FROM tasklease.claim_task('w2')$$,
    'a claimed task is not claimed again');

SELECT * FROM finish();
ROLLBACK;

-- Each task of a batch gets its own fresh token, the owner, the lease and one
-- more attempt.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT count(*) FROM tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[3])) \gset
SELECT (tl_test.claimed('w0')).lease_token AS t0 \gset
CREATE TEMP TABLE got AS SELECT * FROM tasklease.claim_tasks('w9', 3, NULL, 30);

SELECT is((SELECT count(DISTINCT lease_token)::int FROM got), 3, 'three distinct tokens');
SELECT is(
    (SELECT count(*)::int FROM got JOIN tasklease.tasks AS t USING (id)
     WHERE t.lease_token = got.lease_token AND t.owner_id = 'w9' AND t.status = 'running'),
    3, 'each row holds the returned token for w9');
SELECT is(
    (SELECT count(*)::int FROM got
     WHERE lease_expires_at = now() + interval '30 seconds' AND attempts = 1),
    3, 'each lease expires lease_s from now and counts one attempt');
SELECT is(
    (SELECT count(*)::int FROM tasklease.tasks WHERE owner_id = 'w9' AND last_heartbeat = now()),
    3, 'each task''s last_heartbeat is now()');
SELECT cmp_ok(
    (SELECT min(lease_token) FROM got), '>',
    :t0::bigint, 'every token is larger than one issued before the batch');

SELECT * FROM finish();
ROLLBACK;

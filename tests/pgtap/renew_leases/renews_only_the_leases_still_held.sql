-- renew_leases extends each (task_id, lease_token) this owner still holds and
-- returns one row per renewed lease; stale pairs are left out and unchanged.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1', 60) \gset
SELECT id AS b, lease_token AS tb FROM tl_test.claimed('w1', 60) \gset
SELECT id AS c, lease_token AS tc FROM tl_test.claimed('w2', 60) \gset
SELECT id AS d, lease_token AS td FROM tl_test.claimed('w1', 60) \gset
SELECT tl_test.expire(:d, interval '1 second');
SELECT count(*) AS n FROM tasklease.reap_stale_tasks() \gset

SELECT set_eq(
    format('SELECT task_id, lease_expires_at FROM tasklease.renew_leases(%L, %L, %L, 200)',
        'w1', ARRAY[:a, :b, :c, :d], ARRAY[:ta, :tb + 1000, :tc, :td]),
    format('VALUES (%s::bigint, now() + interval ''200 seconds'')', :a),
    'only the pair still held by w1 with its token is renewed'
);
SELECT is((tl_test.task(:a)).lease_expires_at, now() + interval '200 seconds', 'a is extended');
SELECT is((tl_test.task(:b)).lease_expires_at, now() + interval '60 seconds',
    'b (wrong token) is unchanged');
SELECT is((tl_test.task(:c)).lease_expires_at, now() + interval '60 seconds',
    'c (another owner) is unchanged');
SELECT is((tl_test.task(:d)).status, 'queued'::tasklease.task_status,
    'd (reaped) stays queued');
SELECT throws_ok(
    $$SELECT * FROM tasklease.renew_leases('w1', ARRAY[]::bigint [], ARRAY[]::bigint [])$$,
    'TL003', NULL, 'empty arrays are a batch of 0: TL003'
);

SELECT * FROM finish();
ROLLBACK;

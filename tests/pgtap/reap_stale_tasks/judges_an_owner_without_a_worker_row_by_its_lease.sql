-- An owner that never heartbeats (no workers row, e.g. a psql session) is
-- judged by its lease alone: a valid lease stays, an expired one is reaped.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT id AS valid FROM tl_test.claimed('psql-session', 86400) \gset
SELECT id AS expired FROM tl_test.claimed('psql-session', 86400) \gset
SELECT tl_test.expire(:expired, interval '1 second');

SELECT results_eq(
    $$SELECT task_id, reason FROM tasklease.reap_stale_tasks()$$,
    format($$VALUES (%s::bigint, 'lease_expired')$$, :expired),
    'only the expired lease is reaped'
);
SELECT is((tl_test.task(:valid)).status, 'running'::tasklease.task_status,
    'the valid lease of an owner without a workers row is kept');
SELECT is((SELECT count(*)::int FROM tasklease.workers), 0, 'there is no workers row at all');

SELECT * FROM finish();
ROLLBACK;

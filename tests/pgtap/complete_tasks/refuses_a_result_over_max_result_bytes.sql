-- A result larger than max_result_bytes is TL012 naming the task, and nothing
-- of the batch changes: the worker then fails that task alone and completes
-- the others.  complete_task applies the same rule.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

UPDATE tasklease.settings SET value = 100 WHERE name = 'max_result_bytes';
SELECT * FROM tl_test.claimed('w1') \gset a_
SELECT * FROM tl_test.claimed('w1') \gset b_
SELECT tl_test.state() AS before \gset

SELECT throws_ok(
    format($$SELECT * FROM tasklease.complete_tasks('w1', ARRAY[%s, %s]::bigint [],
        ARRAY[%s, %s]::bigint [], ARRAY['{"ok": 1}', %L]::jsonb [])$$,
        :a_id, :b_id, :a_lease_token, :b_lease_token,
        jsonb_build_object('big', repeat('x', 200))),
    'TL012', NULL, 'a batch with one result too large is TL012');
SELECT is(tl_test.state(), :'before', 'nothing of the batch changed');
SELECT throws_ok(
    format($$SELECT tasklease.complete_task(%s, 'w1', %s, %L)$$, :b_id, :b_lease_token,
        jsonb_build_object('big', repeat('x', 200))),
    'TL012', NULL, 'complete_task: TL012 too');
SELECT is(
    (SELECT array_agg(x ORDER BY x) FROM tasklease.complete_tasks('w1',
        ARRAY[:a_id, :b_id]::bigint [], ARRAY[:a_lease_token, :b_lease_token]::bigint [],
        ARRAY['{"ok": 1}', '{"ok": 2}']::jsonb []) AS x),
    ARRAY[:a_id, :b_id]::bigint [], 'results within the limit complete');
SELECT is((tl_test.task(:b_id)).result, '{"ok": 2}'::jsonb, 'and are stored');

SELECT * FROM finish();
ROLLBACK;

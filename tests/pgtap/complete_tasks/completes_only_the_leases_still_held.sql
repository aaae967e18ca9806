-- complete_tasks is complete_task per pair: it returns the ids it accepted,
-- stores each result, and leaves zombies' tasks unchanged.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1') \gset
SELECT id AS b, lease_token AS tb FROM tl_test.claimed('w1') \gset
SELECT id AS c, lease_token AS tc FROM tl_test.claimed('w2') \gset

SELECT set_eq(
    format('SELECT * FROM tasklease.complete_tasks(%L, %L, %L, %L)', 'w1',
        ARRAY[:a, :b, :c], ARRAY[:ta, :tb + 1, :tc], ARRAY['{"r": "a"}', '{"r": "b"}', '{"r": "c"}']),
    format('VALUES (%s::bigint)', :a),
    'only a (held by w1 with its token) is accepted'
);
SELECT is((tl_test.task(:a)).result, '{"r": "a"}'::jsonb, 'a stores its own result');
SELECT is((tl_test.task(:b)).status, 'running'::tasklease.task_status, 'b is still running');
SELECT is((tl_test.task(:c)).status, 'running'::tasklease.task_status, 'c is still running');
SELECT set_eq(
    format('SELECT * FROM tasklease.complete_tasks(%L, %L, %L)', 'w1',
        ARRAY[:b], ARRAY[:tb]),
    format('VALUES (%s::bigint)', :b),
    'without results the task completes with a NULL result'
);
SELECT ok((tl_test.task(:b)).result IS NULL, 'b has a NULL result');

SELECT * FROM finish();
ROLLBACK;

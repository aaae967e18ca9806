-- enqueue_tasks returns (id, created) per payload, in payload order: created
-- is false for a payload whose key a task already held.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT results_eq(
    $$SELECT created FROM tasklease.enqueue_tasks(ARRAY['{}', '{}', '{}']::jsonb [], 'e')$$,
    $$VALUES (true), (true), (true)$$,
    'without keys every task is new'
);
SELECT results_eq(
    $$SELECT created FROM tasklease.enqueue_tasks(ARRAY['{}', '{}', '{}']::jsonb [], 'e',
        dedupe_keys => ARRAY['x', 'x', 'y'])$$,
    $$VALUES (true), (false), (true)$$,
    'the second payload with key x is not new'
);
SELECT results_eq(
    $$SELECT created FROM tasklease.enqueue_tasks(ARRAY['{}', '{}']::jsonb [], 'e',
        dedupe_keys => ARRAY['y', 'z'])$$,
    $$VALUES (false), (true)$$,
    'y is held by the earlier call, z is new'
);
SELECT is((SELECT count(*)::int FROM tasklease.tasks WHERE queue = 'e'), 6,
    'six tasks in all');

SELECT * FROM finish();
ROLLBACK;

-- dedupe_keys must have one element per payload, one dimension; nothing is
-- added otherwise.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT throws_ok(
    $$SELECT * FROM tasklease.enqueue_tasks(ARRAY['{}', '{}']::jsonb [], 'q',
        dedupe_keys => ARRAY['a'])$$,
    'TL007', NULL, 'one key for two payloads is TL007');
SELECT throws_ok(
    $$SELECT * FROM tasklease.enqueue_tasks(ARRAY['{}']::jsonb [], 'q',
        dedupe_keys => ARRAY['a', 'b'])$$,
    'TL007', NULL, 'two keys for one payload is TL007');
SELECT throws_ok(
    $$SELECT * FROM tasklease.enqueue_tasks(ARRAY['{}', '{}']::jsonb [], 'q',
        dedupe_keys => ARRAY[ARRAY['a'], ARRAY['b']])$$,
    'TL007', NULL, 'a two-dimensional array of keys is TL007');
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 0, 'nothing was added');

SELECT * FROM finish();
ROLLBACK;

-- enqueue_many refuses the whole batch when one payload is bad.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT throws_ok($$SELECT tasklease.enqueue_many(NULL)$$, 'TL004', NULL,
    'a NULL array is TL004');
SELECT throws_ok($$SELECT tasklease.enqueue_many(ARRAY[]::jsonb [])$$, 'TL004', NULL,
    'an empty array is TL004');
SELECT throws_ok($$SELECT tasklease.enqueue_many(ARRAY['{}', NULL]::jsonb [])$$, 'TL004', NULL,
    'an array with a NULL payload is TL004');
UPDATE tasklease.settings SET value = 100 WHERE name = 'max_payload_bytes';
SELECT throws_ok(
    $$SELECT tasklease.enqueue_many(ARRAY['{}', jsonb_build_object('x', repeat('a', 200))])$$,
    'TL004', NULL, 'an array with an oversized payload is TL004');
SELECT throws_ok($$SELECT tasklease.enqueue_many(ARRAY['{}']::jsonb [], 'bad queue')$$,
    'TL005', NULL, 'a bad queue name is TL005');
SELECT throws_ok($$SELECT tasklease.enqueue_many(ARRAY['{}']::jsonb [], 'q', now(), 0, 0)$$,
    'TL007', NULL, 'max_attempts 0 is TL007');
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 0, 'no refused batch added a task');

SELECT * FROM finish();
ROLLBACK;

-- enqueue_many adds one task per payload, in array order, with shared options,
-- and returns the ids in that order.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

CREATE TEMP TABLE ids AS
SELECT row_number() OVER () AS n, id
FROM tasklease.enqueue_many(ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb [],
    'batch', now() + interval '5 minutes', 3, 4) AS id;

SELECT is((SELECT count(*)::int FROM ids), 3, 'three ids are returned');
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 3, 'three tasks are added');
SELECT results_eq(
    $$SELECT (t.payload ->> 'n')::int FROM ids JOIN tasklease.tasks AS t USING (id) ORDER BY ids.n$$,
    $$VALUES (1), (2), (3)$$,
    'ids come back in payload order'
);
SELECT results_eq(
    $$SELECT id FROM ids ORDER BY n$$,
    $$SELECT id FROM tasklease.tasks ORDER BY id$$,
    'ids increase in payload order'
);
SELECT is(
    (SELECT count(*)::int FROM tasklease.tasks
     WHERE queue = 'batch' AND priority = 3 AND max_attempts = 4 AND status = 'queued'
        AND run_after = now() + interval '5 minutes'),
    3, 'every task gets the queue, priority, max_attempts and run_after'
);
SELECT is(
    (SELECT count(*)::int FROM tasklease.enqueue_many(ARRAY['null']::jsonb [])),
    1, 'a single JSON null payload is accepted'
);

SELECT * FROM finish();
ROLLBACK;

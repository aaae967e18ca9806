-- enqueue_many takes one key (or NULL) per payload: a key held by a live
-- task returns that task, a key repeated within the batch is one task, a
-- NULL key is always a new task; the ids come back in payload order.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.enqueue('{"old": true}', 'b', dedupe_key => 'held') AS held \gset
CREATE TEMP TABLE ids AS
SELECT row_number() OVER () AS n, id
FROM tasklease.enqueue_many(
    ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb [], 'b',
    dedupe_keys => ARRAY['a', 'held', NULL, 'a', NULL]
) AS id;

SELECT is((SELECT count(*)::int FROM ids), 5, 'one id per payload');
SELECT is((SELECT id FROM ids WHERE n = 2), :held::bigint, 'a held key returns its task');
SELECT is((SELECT id FROM ids WHERE n = 4), (SELECT id FROM ids WHERE n = 1),
    'a key repeated in the batch is one task');
SELECT results_eq(
    $$SELECT t.payload ->> 'n' FROM ids JOIN tasklease.tasks AS t USING (id)
      WHERE ids.n IN (1, 3, 5) ORDER BY ids.n$$,
    $$VALUES ('1'), ('3'), ('5')$$,
    'the new tasks hold their own payloads, in payload order'
);
SELECT is((SELECT count(*)::int FROM tasklease.tasks), 4, 'three tasks were added');

SELECT * FROM finish();
ROLLBACK;

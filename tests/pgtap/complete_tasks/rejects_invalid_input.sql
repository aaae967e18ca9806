-- Arrays of different lengths are TL007, too many pairs TL003, bad owner TL001.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT throws_ok($$SELECT * FROM tasklease.complete_tasks('w', ARRAY[1, 2], ARRAY[1])$$,
    'TL007', NULL, 'ids and tokens of different lengths are TL007');
SELECT throws_ok(
    $$SELECT * FROM tasklease.complete_tasks('w', ARRAY[1], ARRAY[1], ARRAY['{}', '{}']::jsonb [])$$,
    'TL007', NULL, 'results of another length are TL007');
SELECT throws_ok($$SELECT * FROM tasklease.complete_tasks('w', NULL, NULL)$$,
    'TL007', NULL, 'NULL arrays are TL007');
UPDATE tasklease.settings SET value = 1 WHERE name IN ('reap_batch', 'prune_batch');
UPDATE tasklease.settings SET value = 1 WHERE name = 'max_batch';
SELECT throws_ok($$SELECT * FROM tasklease.complete_tasks('w', ARRAY[1, 2], ARRAY[1, 2])$$,
    'TL003', NULL, 'more pairs than max_batch is TL003');
SELECT throws_ok($$SELECT * FROM tasklease.complete_tasks(' ', ARRAY[1], ARRAY[1])$$,
    'TL001', NULL, 'a blank owner is TL001');

SELECT * FROM finish();
ROLLBACK;

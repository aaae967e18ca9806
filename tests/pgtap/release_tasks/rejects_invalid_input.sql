-- Bad input gets its stable SQLSTATE and changes nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT id AS a, lease_token AS ta FROM tl_test.claimed('w1') \gset

SELECT throws_ok($$SELECT tasklease.release_tasks(NULL, ARRAY[1]::bigint[], ARRAY[1]::bigint[])$$,
    'TL001', NULL, 'NULL owner: TL001');
SELECT throws_ok($$SELECT tasklease.release_tasks('w1', ARRAY[1, 2]::bigint[], ARRAY[1]::bigint[])$$,
    'TL007', NULL, 'arrays of different lengths: TL007');
SELECT throws_ok($$SELECT tasklease.release_tasks('w1', NULL, ARRAY[1]::bigint[])$$,
    'TL007', NULL, 'NULL task_ids: TL007');
SELECT throws_ok($$SELECT tasklease.release_tasks('w1', '{}'::bigint[], '{}'::bigint[])$$,
    'TL003', NULL, 'an empty batch: TL003');
SELECT throws_ok(
    format($$SELECT tasklease.release_tasks('w1', array_fill(%s::bigint, ARRAY[%s]),
             array_fill(%s::bigint, ARRAY[%s]))$$, :a, tasklease._setting('max_batch') + 1,
           :ta, tasklease._setting('max_batch') + 1),
    'TL003', NULL, 'more than max_batch: TL003');
SELECT is((tl_test.task(:a)).status, 'running'::tasklease.task_status, 'nothing was given back');

SELECT * FROM finish();
ROLLBACK;

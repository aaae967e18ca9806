-- get_task returns the task row, or no row for an unknown id.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT tasklease.enqueue('{"a": 1}', 'gq') AS id \gset
SELECT is((SELECT payload FROM tasklease.get_task(:id)), '{"a": 1}'::jsonb, 'the payload');
SELECT is((SELECT queue FROM tasklease.get_task(:id)), 'gq', 'the queue');
SELECT is_empty($$SELECT * FROM tasklease.get_task(-1)$$, 'no row for an unknown id');

SELECT * FROM finish();
ROLLBACK;

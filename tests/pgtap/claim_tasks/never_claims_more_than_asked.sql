-- claim_tasks claims at most max_tasks, fewer when fewer are runnable.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT count(*) FROM tasklease.enqueue_many(array_fill('{}'::jsonb, ARRAY[10])) \gset
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 1)), 1, 'max_tasks 1 claims one');
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 4)), 4, 'max_tasks 4 claims four');
SELECT is((SELECT count(*)::int FROM tasklease.tasks WHERE status = 'running'), 5,
    'exactly five are running');
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 100)), 5,
    'asking for 100 claims the five left');
SELECT is_empty($$SELECT * FROM tasklease.claim_tasks('w', 3)$$, 'then nothing is left');

SELECT * FROM finish();
ROLLBACK;

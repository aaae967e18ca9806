-- With a queue, claim_task only takes tasks of that queue; without one, any.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT tasklease.enqueue('{}', 'alpha', now() - interval '1 hour') AS a \gset
SELECT tasklease.enqueue('{}', 'beta') AS b \gset

SELECT is_empty($$SELECT * FROM tasklease.claim_task('w', 'gamma')$$,
    'an unknown queue gives no row');
SELECT is((SELECT id FROM tasklease.claim_task('w', 'beta')), :b::bigint,
    'the beta task is claimed from queue beta, although the alpha task is older');
SELECT is_empty($$SELECT * FROM tasklease.claim_task('w', 'beta')$$,
    'queue beta is then empty');
SELECT is((SELECT queue FROM tasklease.claim_task('w')), 'alpha',
    'without a queue the alpha task is claimed');
SELECT is((tl_test.task(:a)).status, 'running'::tasklease.task_status, 'it is running');

SELECT * FROM finish();
ROLLBACK;

-- claim_tasks skips tasks whose run_after is in the future and, with a queue,
-- tasks of other queues.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.enqueue('{}', 'q1') AS now1 \gset
SELECT tasklease.enqueue('{}', 'q1', now() + interval '1 second') AS later1 \gset
SELECT tasklease.enqueue('{}', 'q2') AS now2 \gset

SELECT results_eq($$SELECT id FROM tasklease.claim_tasks('w', 10, 'q1')$$,
    ARRAY[:now1]::bigint [], 'only the due task of q1');
SELECT results_eq($$SELECT id FROM tasklease.claim_tasks('w', 10)$$,
    ARRAY[:now2]::bigint [], 'without a queue: the due task of q2, not the future one');
SELECT is((tl_test.task(:later1)).status, 'queued'::tasklease.task_status,
    'the future task is still queued');
SELECT is_empty($$SELECT * FROM tasklease.claim_tasks('w', 10)$$, 'nothing else is due');

SELECT * FROM finish();
ROLLBACK;

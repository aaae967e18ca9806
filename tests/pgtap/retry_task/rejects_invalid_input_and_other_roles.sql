-- retry_task: TL007 for a NULL id, TL009 for an unknown task; only
-- tasklease_admin may call it.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT throws_ok($$SELECT tasklease.retry_task(NULL)$$, 'TL007', NULL, 'a NULL task_id is TL007');
SELECT throws_ok($$SELECT tasklease.retry_task(-42)$$, 'TL009', NULL, 'an unknown task is TL009');

SET LOCAL ROLE tasklease_producer;
SELECT tl_test.sqlstate_of('SELECT tasklease.retry_task(1)') AS p \gset
RESET ROLE;
SET LOCAL ROLE tasklease_worker;
SELECT tl_test.sqlstate_of('SELECT tasklease.retry_task(1)') AS w \gset
RESET ROLE;
SELECT is(:'p'::text, '42501', 'a producer may not retry');
SELECT is(:'w'::text, '42501', 'a worker may not retry');

SELECT * FROM finish();
ROLLBACK;

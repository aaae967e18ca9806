-- take_back_task: TL007 for a NULL id or token, TL009 for an unknown task;
-- only tasklease_admin may call it.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT throws_ok($$SELECT tasklease.take_back_task(NULL, 1)$$, 'TL007', NULL,
    'a NULL task_id is TL007');
SELECT throws_ok($$SELECT tasklease.take_back_task(1, NULL)$$, 'TL007', NULL,
    'a NULL lease_token is TL007');
SELECT throws_ok($$SELECT tasklease.take_back_task(-42, 1)$$, 'TL009', NULL,
    'an unknown task is TL009');

SET LOCAL ROLE tasklease_producer;
SELECT tl_test.sqlstate_of('SELECT tasklease.take_back_task(1, 1)') AS p \gset
RESET ROLE;
SET LOCAL ROLE tasklease_worker;
SELECT tl_test.sqlstate_of('SELECT tasklease.take_back_task(1, 1)') AS w \gset
RESET ROLE;
SELECT is(:'p'::text, '42501', 'a producer may not take a task back');
SELECT is(:'w'::text, '42501', 'a worker may not take a task back');

SELECT * FROM finish();
ROLLBACK;

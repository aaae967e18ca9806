-- console_queues: count_limit outside 0..1000000 is TL007.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT throws_ok($$SELECT * FROM tasklease.console_queues(-1)$$, 'TL007', NULL,
    'a negative count_limit is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.console_queues(NULL)$$, 'TL007', NULL,
    'a NULL count_limit is TL007');

SELECT * FROM finish();
ROLLBACK;

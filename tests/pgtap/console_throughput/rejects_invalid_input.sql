-- console_throughput: minutes outside 1..1440 is TL007.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(3);

SELECT throws_ok($$SELECT * FROM tasklease.console_throughput(0)$$, 'TL007', NULL,
    'minutes 0 is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.console_throughput(1441)$$, 'TL007', NULL,
    'minutes 1441 is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.console_throughput(NULL)$$, 'TL007', NULL,
    'a NULL minutes is TL007');

SELECT * FROM finish();
ROLLBACK;

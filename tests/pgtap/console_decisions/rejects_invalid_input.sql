-- console_decisions: page_size outside 1..500 is TL007.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(2);

SELECT throws_ok($$SELECT * FROM tasklease.console_decisions(page_size => 0)$$, 'TL007', NULL,
    'page_size 0 is TL007');
SELECT throws_ok($$SELECT * FROM tasklease.console_decisions(page_size => 501)$$, 'TL007',
    NULL, 'page_size 501 is TL007');

SELECT * FROM finish();
ROLLBACK;

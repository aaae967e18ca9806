-- set_queue refuses a bad queue name (TL005) and a max_running outside
-- 0..1000000 (TL007), and changes nothing then.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT throws_ok($$SELECT tasklease.set_queue(NULL, 1)$$, 'TL005', NULL, 'a NULL queue is TL005');
SELECT throws_ok($$SELECT tasklease.set_queue('bad queue', 1)$$, 'TL005', NULL,
    'a queue with a space is TL005');
SELECT throws_ok($$SELECT tasklease.set_queue('q', -1)$$, 'TL007', NULL,
    'a negative max_running is TL007');
SELECT throws_ok($$SELECT tasklease.set_queue('q', 1000001)$$, 'TL007', NULL,
    'max_running above 1000000 is TL007');
SELECT is((SELECT count(*)::int FROM tasklease.queue_settings), 0, 'nothing was stored');

SELECT * FROM finish();
ROLLBACK;

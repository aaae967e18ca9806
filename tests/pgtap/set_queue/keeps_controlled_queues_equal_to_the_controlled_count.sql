-- The setting controlled_queues, which the claim path reads to skip flow
-- control, is always the number of queues with a limit or a pause: set_queue
-- and direct writes of queue_settings keep it; nobody can set it otherwise.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

CREATE FUNCTION tl_test.controlled() RETURNS int LANGUAGE sql AS
$$ SELECT value FROM tasklease.settings WHERE name = 'controlled_queues' $$;

SELECT is(tl_test.controlled(), 0, 'no queue is controlled');
SELECT tasklease.set_queue('a', max_running => 2) \g /dev/null
SELECT tasklease.set_queue('b', paused => true) \g /dev/null
SELECT tasklease.set_queue('c', max_running => 0, paused => false) \g /dev/null
SELECT is(tl_test.controlled(), 2, 'a limited and a paused queue; c has neither');
SELECT tasklease.set_queue('b', paused => false) \g /dev/null
SELECT is(tl_test.controlled(), 1, 'resuming b leaves one');
UPDATE tasklease.queue_settings SET paused = true WHERE queue = 'c';
SELECT is(tl_test.controlled(), 2, 'a direct UPDATE is counted');
DELETE FROM tasklease.queue_settings;
SELECT is(tl_test.controlled(), 0, 'a direct DELETE is counted');
SELECT throws_ok($$SELECT tasklease.set_setting('controlled_queues', 3)$$, 'TL006', NULL,
    'set_setting cannot make it disagree');
SELECT throws_ok($$UPDATE tasklease.settings SET value = 1 WHERE name = 'controlled_queues'$$,
    'TL006', NULL, 'nor can a direct UPDATE');

SELECT * FROM finish();
ROLLBACK;

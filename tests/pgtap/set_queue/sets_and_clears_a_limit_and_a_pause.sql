-- set_queue sets max_running and paused, keeps what is passed as NULL, and
-- removes the limit with max_running 0; it returns the queue's settings row.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(6);

SELECT results_eq(
    $$SELECT queue, max_running, paused FROM tasklease.set_queue('q', max_running => 3)$$,
    $$VALUES ('q', 3, false)$$, 'a limit, not paused');
SELECT results_eq(
    $$SELECT max_running, paused FROM tasklease.set_queue('q', paused => true)$$,
    $$VALUES (3, true)$$, 'pausing keeps the limit');
SELECT results_eq(
    $$SELECT max_running, paused FROM tasklease.set_queue('q', max_running => 5)$$,
    $$VALUES (5, true)$$, 'a new limit keeps the pause');
SELECT results_eq(
    $$SELECT max_running, paused FROM tasklease.set_queue('q', max_running => 0)$$,
    $$VALUES (NULL::int, true)$$, 'max_running 0 removes the limit');
SELECT results_eq(
    $$SELECT max_running, paused FROM tasklease.set_queue('q', paused => false)$$,
    $$VALUES (NULL::int, false)$$, 'resumed: no flow control left');
SELECT is((SELECT count(*)::int FROM tasklease.queue_settings), 1, 'one row per queue');

SELECT * FROM finish();
ROLLBACK;

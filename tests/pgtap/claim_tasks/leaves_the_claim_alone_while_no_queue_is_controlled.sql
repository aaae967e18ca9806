-- While no queue is limited or paused (controlled_queues = 0), claims take the
-- plain path: they never touch queue_settings nor mark tasks as limited.  A
-- queue's settings row with neither a limit nor a pause changes nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.set_queue('q', max_running => 0, paused => false) \g /dev/null
SELECT count(*) FROM tl_test.enqueue_n('q', 5) \g /dev/null
SELECT is((SELECT value FROM tasklease.settings WHERE name = 'controlled_queues'), 0,
    'no queue is controlled');
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 5, 'q')), 5,
    'the claim takes everything asked for');
SELECT ok((SELECT NOT bool_or(limited) FROM tasklease.tasks), 'no task is marked limited');
SELECT is((SELECT claimed_at FROM tasklease.queue_settings WHERE queue = 'q'), NULL,
    'the queue''s row was not touched');

SELECT * FROM finish();
ROLLBACK;

-- While no queue is limited or paused (controlled_queues = 0), claims take the
-- plain path: they never touch queue_settings.  A queue's settings row with
-- neither a limit nor a pause changes nothing; nor does another queue's limit
-- change a claim of this one.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.set_queue('q', max_running => 0, paused => false) \g /dev/null
SELECT count(*) FROM tl_test.enqueue_n('q', 5) \g /dev/null
SELECT is((SELECT value FROM tasklease.settings WHERE name = 'controlled_queues'), 0,
    'no queue is controlled');
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 5, 'q')), 5,
    'the claim takes everything asked for');
SELECT is((SELECT claimed_at FROM tasklease.queue_settings WHERE queue = 'q'), NULL,
    'the queue''s row was not touched');
SELECT tasklease.set_queue('other', max_running => 1) \g /dev/null
SELECT count(*) FROM tl_test.enqueue_n('q', 3) \g /dev/null
SELECT is((SELECT count(*)::int FROM tasklease.claim_tasks('w', 5, 'q')), 3,
    'another queue''s limit leaves the claim of this queue whole');

SELECT * FROM finish();
ROLLBACK;

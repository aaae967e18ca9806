-- cancel_task cancels a queued or running task (the holder's lease is then
-- gone), returns false for a finished task, TL009 for an unknown one.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(10);

SELECT tasklease.enqueue('{}') AS q \gset
SELECT is(tasklease.cancel_task(:q), true, 'a queued task is cancelled');
SELECT is((tl_test.task(:q)).status, 'cancelled'::tasklease.task_status, 'status cancelled');
SELECT is((tl_test.task(:q)).finished_at, now(), 'finished_at is now()');

SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT is(tasklease.cancel_task(:c_id), true, 'a running task is cancelled');
SELECT ok((tl_test.task(:c_id)).lease_expires_at IS NULL, 'its lease is gone');
SELECT is(tasklease.complete_task(:c_id, 'w1', :c_lease_token), false,
    'the holder can no longer complete it');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token), NULL,
    'nor renew it');
SELECT is(tasklease.cancel_task(:c_id), false, 'cancelling again returns false');
SELECT throws_ok($$SELECT tasklease.cancel_task(-42)$$, 'TL009', NULL,
    'an unknown task is TL009');
SELECT throws_ok($$SELECT tasklease.cancel_task(NULL)$$, 'TL007', NULL,
    'a NULL task_id is TL007');

SELECT * FROM finish();
ROLLBACK;

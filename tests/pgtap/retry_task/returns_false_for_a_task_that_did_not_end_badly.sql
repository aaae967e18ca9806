-- retry_task changes nothing and returns false for a queued, running or
-- completed task.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT tasklease.enqueue('{}') AS q \gset
SELECT * FROM tl_test.claimed('w1') \gset r_
SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT tasklease.complete_task(:c_id, 'w1', :c_lease_token);
SELECT tl_test.state() AS before \gset

SELECT is(tasklease.retry_task(:q), false, 'a queued task: false');
SELECT is(tasklease.retry_task(:r_id), false, 'a running task: false');
SELECT is(tasklease.retry_task(:c_id), false, 'a completed task: false');
SELECT is(tl_test.state(), :'before', 'nothing changed, nothing logged');

SELECT * FROM finish();
ROLLBACK;

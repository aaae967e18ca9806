-- take_back_task is fenced: a token that no longer holds the lease (the task
-- was re-claimed, completed, or never had that token) changes nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT tl_test.state() AS before \gset
SELECT is(tasklease.take_back_task(:c_id, :c_lease_token - 1), false, 'an older token: false');
SELECT is(tl_test.state(), :'before', 'nothing changed, nothing logged');

SELECT tasklease.complete_task(:c_id, 'w1', :c_lease_token);
SELECT is(tasklease.take_back_task(:c_id, :c_lease_token), false,
    'the token of a completed task: false');
SELECT is((tl_test.task(:c_id)).status, 'completed'::tasklease.task_status,
    'the task stays completed');

SELECT * FROM finish();
ROLLBACK;

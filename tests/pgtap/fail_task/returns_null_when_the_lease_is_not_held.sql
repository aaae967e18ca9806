-- A zombie's fail_task returns NULL and changes nothing.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT * FROM tl_test.claimed('w1') \gset c_
SELECT tl_test.state() AS s0 \gset
SELECT is(tasklease.fail_task(:c_id, 'w2', :c_lease_token, 'x'), NULL, 'wrong owner: NULL');
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token + 1, 'x'), NULL, 'wrong token: NULL');
SELECT is(tl_test.state(), :'s0', 'nothing changed');
SELECT ok(tasklease.complete_task(:c_id, 'w1', :c_lease_token), 'completed');
SELECT is(tasklease.fail_task(:c_id, 'w1', :c_lease_token, 'x'), NULL,
    'a completed task cannot be failed');

SELECT * FROM finish();
ROLLBACK;

-- The token is required: by owner name alone a worker could renew a task that
-- was re-claimed since, even by itself under the same name.  A call without
-- it is TL007 and renews nothing, not even the owner's current lease.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT * FROM tl_test.claimed('w1', 60) \gset c_
SELECT tl_test.state() AS before \gset
SELECT throws_ok(format('SELECT tasklease.renew_lease(%s, %L)', :c_id, 'w1'),
    'TL007', NULL, 'the owner without a token: TL007');
SELECT throws_ok(format('SELECT tasklease.renew_lease(%s, %L, NULL, 90)', :c_id, 'w1'),
    'TL007', NULL, 'an explicit NULL token: TL007');
SELECT is(tl_test.state(), :'before', 'nothing was renewed');

-- Requeued and re-claimed by the same owner: only the new token renews.
SELECT tl_test.expire(:c_id, interval '1 second');
SELECT count(*) AS n FROM tasklease.reap_stale_tasks() \gset
UPDATE tasklease.tasks SET run_after = now() WHERE id = :c_id;
SELECT lease_token AS t2 FROM tasklease.claim_task('w1') \gset
SELECT is(tasklease.renew_lease(:c_id, 'w1', :c_lease_token, 90), NULL,
    'the old token of the same owner renews nothing');
SELECT is(tasklease.renew_lease(:c_id, 'w1', :t2, 90), now() + interval '90 seconds',
    'the new token renews');

SELECT * FROM finish();
ROLLBACK;

-- register_worker refuses (TL008) a name whose last incarnation is alive, and
-- allows it when that incarnation is dead, stopped, the same one, or when the
-- caller takes over.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(11);

SELECT lives_ok($$SELECT tasklease.register_worker('w1', 'inc-1', 'h', 11, '{"a": 1}')$$,
    'a new name registers');
SELECT is((SELECT incarnation FROM tasklease.workers WHERE owner_id = 'w1'), 'inc-1',
    'the incarnation is stored');
SELECT is((SELECT pid FROM tasklease.workers WHERE owner_id = 'w1'), 11, 'the pid is stored');
SELECT throws_ok($$SELECT tasklease.register_worker('w1', 'inc-2')$$, 'TL008', NULL,
    'a live name is refused to another incarnation');
SELECT lives_ok($$SELECT tasklease.register_worker('w1', 'inc-1')$$,
    'the same incarnation may register again');
SELECT is(
    (SELECT (tasklease.register_worker('w1', 'inc-3', 'h', 13, NULL, true)).incarnation),
    'inc-1', 'takeover is allowed and returns the previous row');
SELECT is((SELECT incarnation FROM tasklease.workers WHERE owner_id = 'w1'), 'inc-3',
    'the new incarnation holds the name');

-- Dead at exactly worker_ttl_s is still alive; one microsecond more is dead.
UPDATE tasklease.workers SET last_heartbeat = now() - interval '60 seconds';
SELECT throws_ok($$SELECT tasklease.register_worker('w1', 'inc-4')$$, 'TL008', NULL,
    'a heartbeat exactly worker_ttl_s old is alive');
UPDATE tasklease.workers SET last_heartbeat = now() - interval '60 seconds 1 microsecond';
SELECT lives_ok($$SELECT tasklease.register_worker('w1', 'inc-4')$$,
    'a dead name may be registered');

SELECT tasklease.worker_stopped('w1') AS stopped \gset
SELECT lives_ok($$SELECT tasklease.register_worker('w1', 'inc-5')$$,
    'a stopped name may be registered');
SELECT ok((SELECT stopped_at IS NULL AND last_heartbeat = now() FROM tasklease.workers
    WHERE owner_id = 'w1'), 'registration clears stopped_at and sets the heartbeat');

SELECT * FROM finish();
ROLLBACK;

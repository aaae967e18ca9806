-- Reason owner_dead: the owner's workers row has not heartbeated for
-- worker_ttl_s (exactly worker_ttl_s is still alive), or says it stopped;
-- the task's own lease may still be valid.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(7);

SELECT tl_test.claimed_id('alive') AS a \gset
SELECT tl_test.claimed_id('at-ttl') AS b \gset
SELECT tl_test.claimed_id('dead') AS c \gset
SELECT tl_test.claimed_id('stopped') AS d \gset
SELECT tl_test.worker('alive', interval '0');
SELECT tl_test.worker('at-ttl', interval '60 seconds');
SELECT tl_test.worker('dead', interval '60 seconds 1 microsecond');
SELECT tl_test.worker('stopped', interval '0', true);

SELECT set_eq(
    $$SELECT task_id, action, reason, owner_id FROM tasklease.reap_stale_tasks()$$,
    format($$VALUES (%s::bigint, 'requeued', 'owner_dead', 'dead'),
        (%s::bigint, 'requeued', 'owner_dead', 'stopped')$$, :c, :d),
    'tasks of the dead and the stopped owner are reaped as owner_dead'
);
SELECT is((tl_test.task(:a)).status, 'running'::tasklease.task_status, 'a live owner keeps its task');
SELECT is((tl_test.task(:b)).status, 'running'::tasklease.task_status,
    'an owner whose heartbeat is exactly worker_ttl_s old keeps its task');
SELECT is((tl_test.task(:c)).status, 'queued'::tasklease.task_status, 'the dead owner''s task is queued');
SELECT is((tl_test.task(:d)).status, 'queued'::tasklease.task_status,
    'the stopped owner''s task is queued');
SELECT is((tl_test.task(:c)).owner_id, NULL, 'and unowned');

UPDATE tasklease.settings SET value = 3600 WHERE name = 'worker_ttl_s';
SELECT id AS e FROM tl_test.claimed('slow') \gset
SELECT tl_test.worker('slow', interval '30 minutes');
SELECT is_empty($$SELECT * FROM tasklease.reap_stale_tasks()$$,
    'worker_ttl_s is read from the settings');

SELECT * FROM finish();
ROLLBACK;

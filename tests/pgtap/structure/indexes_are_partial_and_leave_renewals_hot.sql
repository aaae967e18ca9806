-- The claim and reaper paths are served by partial indexes; no index covers a
-- column that a renewal changes, and the table leaves room on each page, so
-- renewals stay HOT (in-place) updates.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(23);

SELECT has_index('tasklease', 'tasks', 'tasks_claim_queue_idx',
    ARRAY['queue', 'priority', 'run_after', 'id'], 'claim index per queue');
SELECT has_index('tasklease', 'tasks', 'tasks_claim_any_idx',
    ARRAY['priority', 'run_after', 'id'], 'claim index across queues');
SELECT has_index('tasklease', 'tasks', 'tasks_running_owner_idx',
    ARRAY['owner_id'], 'index of the running set by owner');
SELECT has_index('tasklease', 'tasks', 'tasks_finished_idx',
    ARRAY['finished_at'], 'index of finished tasks for pruning');
SELECT has_index('tasklease', 'tasks', 'tasks_finished_queue_idx',
    ARRAY['queue', 'status', 'id'], 'index of finished tasks by queue and status (the console)');
SELECT ok(
    (SELECT i.indisvalid AND i.indpred IS NOT NULL FROM pg_index AS i
     WHERE i.indexrelid = 'tasklease.tasks_finished_queue_idx'::regclass),
    'tasks_finished_queue_idx is valid and partial'
);
SELECT has_index('tasklease', 'reaper_log', 'reaper_log_at_idx', ARRAY['at'],
    'reaper_log index by time for pruning');

SELECT has_index('tasklease', 'tasks', 'tasks_dedupe_key_idx', ARRAY['queue', 'dedupe_key'],
    'de-duplication index: one task per queue and key');
SELECT index_is_unique('tasklease', 'tasks', 'tasks_dedupe_key_idx',
    'tasks_dedupe_key_idx is unique');
SELECT is(
    (SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index AS i
     WHERE i.indexrelid = 'tasklease.tasks_dedupe_key_idx'::regclass),
    '(dedupe_key IS NOT NULL)',
    'tasks_dedupe_key_idx holds the tasks with a key only'
);
-- Every index of tasks costs every claim, completion and enqueue (opened,
-- locked, its predicate checked): the flow-control release adds one, the
-- console one more (partial on finished tasks: claims and renewals never enter it).
SELECT is(
    (SELECT count(*)::int FROM pg_index WHERE indrelid = 'tasklease.tasks'::regclass), 7,
    'tasks has seven indexes: the primary key, four of the first release, the dedupe key, the console''s'
);
SELECT is_empty(
    $$SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
      WHERE i.indrelid = 'tasklease.tasks'::regclass AND NOT (i.indisvalid AND i.indisready)$$,
    'every index of tasks is valid (the concurrent builds finished)'
);

SELECT is(
    (SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index AS i
     WHERE i.indexrelid = 'tasklease.tasks_claim_queue_idx'::regclass),
    '(status = ''queued''::tasklease.task_status)',
    'tasks_claim_queue_idx is partial on status = queued'
);
SELECT is(
    (SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index AS i
     WHERE i.indexrelid = 'tasklease.tasks_claim_any_idx'::regclass),
    '(status = ''queued''::tasklease.task_status)',
    'tasks_claim_any_idx is partial on status = queued'
);
SELECT is(
    (SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index AS i
     WHERE i.indexrelid = 'tasklease.tasks_running_owner_idx'::regclass),
    '(status = ''running''::tasklease.task_status)',
    'tasks_running_owner_idx is partial on status = running'
);
SELECT ok(
    (SELECT i.indpred IS NOT NULL FROM pg_index AS i
     WHERE i.indexrelid = 'tasklease.tasks_finished_idx'::regclass),
    'tasks_finished_idx is partial'
);

-- No index of tasks mentions a renewal column, in its keys, INCLUDE list,
-- expressions or predicate.
SELECT is_empty(
    $$SELECT c.relname
      FROM pg_index AS i
      JOIN pg_class AS c ON c.oid = i.indexrelid
      WHERE i.indrelid = 'tasklease.tasks'::regclass
        AND (EXISTS (
                SELECT 1 FROM unnest(i.indkey::int2 []) AS k (attnum)
                JOIN pg_attribute AS a
                    ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE a.attname IN ('lease_expires_at', 'last_heartbeat', 'updated_at'))
            OR pg_get_indexdef(i.indexrelid) ~ '(lease_expires_at|last_heartbeat|updated_at)')$$,
    'no index of tasks covers lease_expires_at, last_heartbeat or updated_at'
);
SELECT is_empty(
    $$SELECT c.relname
      FROM pg_index AS i
      JOIN pg_class AS c ON c.oid = i.indexrelid
      WHERE i.indrelid = 'tasklease.workers'::regclass
        AND pg_get_indexdef(i.indexrelid) ~ 'last_heartbeat'$$,
    'no index of workers covers last_heartbeat (heartbeats stay HOT)'
);

SELECT ok(
    (SELECT (regexp_match(array_to_string(c.reloptions, ','), 'fillfactor=([0-9]+)'))[1]::int < 100
     FROM pg_class AS c WHERE c.oid = 'tasklease.tasks'::regclass),
    'tasks has a fillfactor below 100'
);
SELECT ok(
    (SELECT (regexp_match(array_to_string(c.reloptions, ','), 'fillfactor=([0-9]+)'))[1]::int < 100
     FROM pg_class AS c WHERE c.oid = 'tasklease.workers'::regclass),
    'workers has a fillfactor below 100'
);

-- And the point of all this: a renewal is a HOT update.  pg_stat counters
-- of this transaction are visible through pg_stat_get_xact_*.
SELECT is((tl_test.claimed('w1', 60)).attempts, 1, 'a task is claimed');
CREATE TEMP TABLE hot_before AS
SELECT pg_stat_get_xact_tuples_hot_updated('tasklease.tasks'::regclass) AS n;
SELECT isnt(
    (SELECT tasklease.renew_lease(t.id, 'w1', t.lease_token, 120)
     FROM tasklease.tasks AS t WHERE t.id = (SELECT max(id) FROM tasklease.tasks)),
    NULL, 'the lease is renewed'
);
SELECT cmp_ok(
    pg_stat_get_xact_tuples_hot_updated('tasklease.tasks'::regclass),
    '>', (SELECT n FROM hot_before),
    'the renewal was a HOT update'
);

SELECT * FROM finish();
ROLLBACK;

-- The table invariants are named CHECK constraints (<table>_<rule>_check), and
-- the lease invariants actually reject rows that break them.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(17);

SELECT has_check('tasklease', 'tasks', 'tasks has CHECK constraints');
SELECT set_has(
    $$SELECT conname::text FROM pg_constraint
      WHERE conrelid = 'tasklease.tasks'::regclass AND contype = 'c'$$,
    $$VALUES ('tasks_queue_check'), ('tasks_counters_check'), ('tasks_state_check')$$,
    'tasks has its named CHECK constraints'
);
SELECT set_has(
    $$SELECT conname::text FROM pg_constraint
      WHERE conrelid = 'tasklease.reaper_log'::regclass AND contype = 'c'$$,
    $$VALUES ('reaper_log_action_check'), ('reaper_log_reason_check')$$,
    'reaper_log has its named CHECK constraints'
);
SELECT set_has(
    $$SELECT conname::text FROM pg_constraint
      WHERE conrelid = 'tasklease.workers'::regclass AND contype = 'c'$$,
    $$VALUES ('workers_info_is_object_check')$$,
    'workers has its named CHECK constraint'
);
SELECT set_has(
    $$SELECT conname::text FROM pg_constraint
      WHERE conrelid = 'tasklease.settings'::regclass AND contype = 'c'$$,
    $$VALUES ('settings_name_check')$$,
    'settings has its named CHECK constraint'
);
SELECT is_empty(
    $$SELECT conname FROM pg_constraint
      WHERE connamespace = 'tasklease'::regnamespace AND contype = 'c'
        AND conname !~ '_check$'$$,
    'every CHECK constraint of the schema is named <table>_<rule>_check'
);

SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, status) VALUES ('{}', 'running')$$,
    '23514', NULL, 'a running task without an owner is rejected'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, status, owner_id) VALUES ('{}', 'queued', 'w')$$,
    '23514', NULL, 'a queued task with an owner is rejected'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, status, finished_at, lease_token, lease_expires_at)
      VALUES ('{}', 'completed', now(), 1, now())$$,
    '23514', NULL, 'a lease on a finished task is rejected'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, status, owner_id, lease_expires_at)
      VALUES ('{}', 'running', 'w', now())$$,
    '23514', NULL, 'a lease without a token is rejected'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, status) VALUES ('{}', 'completed')$$,
    '23514', NULL, 'a completed task without finished_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, finished_at) VALUES ('{}', now())$$,
    '23514', NULL, 'a queued task with finished_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, queue) VALUES ('{}', ' bad')$$,
    '23514', NULL, 'a bad queue name is rejected by the table too'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.tasks (payload, max_attempts) VALUES ('{}', 0)$$,
    '23514', NULL, 'max_attempts below 1 is rejected'
);
SELECT lives_ok(
    $$INSERT INTO tasklease.tasks (payload, status, owner_id) VALUES ('{}', 'running', 'w')$$,
    'a running task with an owner but no lease is allowed (no_lease degradation)'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.reaper_log (task_id, action, reason, actor)
      VALUES (1, 'deleted', 'released', 'x')$$,
    '23514', NULL, 'reaper_log rejects an unknown action'
);
SELECT throws_ok(
    $$INSERT INTO tasklease.reaper_log (task_id, action, reason, actor)
      VALUES (1, 'requeued', 'because', 'x')$$,
    '23514', NULL, 'reaper_log rejects an unknown reason'
);

SELECT * FROM finish();
ROLLBACK;

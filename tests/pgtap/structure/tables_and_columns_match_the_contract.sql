-- The tables and key columns of the public contract exist with their types.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(53);

SELECT has_schema('tasklease');
SELECT has_table('tasklease', 'tasks', 'table tasks exists');
SELECT has_table('tasklease', 'workers', 'table workers exists');
SELECT has_table('tasklease', 'settings', 'table settings exists');
SELECT has_table('tasklease', 'reaper_log', 'table reaper_log exists');
SELECT has_table('tasklease', 'schema_migrations', 'table schema_migrations exists');

SELECT col_type_is('tasklease', 'tasks', 'id', 'bigint', 'tasks.id is bigint');
SELECT col_is_pk('tasklease', 'tasks', 'id', 'tasks.id is the primary key');
SELECT ok(
    (SELECT attidentity = 'a' FROM pg_attribute
     WHERE attrelid = 'tasklease.tasks'::regclass AND attname = 'id'),
    'tasks.id is GENERATED ALWAYS AS IDENTITY'
);
SELECT col_type_is('tasklease', 'tasks', 'queue', 'text', 'tasks.queue is text');
SELECT col_type_is('tasklease', 'tasks', 'payload', 'jsonb', 'tasks.payload is jsonb');
SELECT col_type_is('tasklease', 'tasks', 'priority', 'integer', 'tasks.priority is int');
SELECT col_type_is('tasklease', 'tasks', 'status', 'tasklease', 'task_status',
    'tasks.status is tasklease.task_status');
SELECT col_type_is('tasklease', 'tasks', 'run_after', 'timestamp with time zone',
    'tasks.run_after is timestamptz');
SELECT col_type_is('tasklease', 'tasks', 'attempts', 'integer', 'tasks.attempts is int');
SELECT col_type_is('tasklease', 'tasks', 'max_attempts', 'integer', 'tasks.max_attempts is int');
SELECT col_type_is('tasklease', 'tasks', 'requeue_count', 'integer', 'tasks.requeue_count is int');
SELECT col_type_is('tasklease', 'tasks', 'failures', 'integer', 'tasks.failures is int');
SELECT col_not_null('tasklease', 'tasks', 'failures', 'tasks.failures is NOT NULL');
SELECT col_type_is('tasklease', 'tasks', 'owner_id', 'text', 'tasks.owner_id is text');
SELECT col_type_is('tasklease', 'tasks', 'lease_token', 'bigint', 'tasks.lease_token is bigint');
SELECT col_type_is('tasklease', 'tasks', 'lease_expires_at', 'timestamp with time zone',
    'tasks.lease_expires_at is timestamptz');
SELECT col_type_is('tasklease', 'tasks', 'last_heartbeat', 'timestamp with time zone',
    'tasks.last_heartbeat is timestamptz');
SELECT col_type_is('tasklease', 'tasks', 'result', 'jsonb', 'tasks.result is jsonb');
SELECT col_type_is('tasklease', 'tasks', 'last_error', 'text', 'tasks.last_error is text');
SELECT has_column('tasklease', 'tasks', 'created_at', 'tasks.created_at exists');
SELECT has_column('tasklease', 'tasks', 'updated_at', 'tasks.updated_at exists');
SELECT has_column('tasklease', 'tasks', 'finished_at', 'tasks.finished_at exists');
SELECT col_not_null('tasklease', 'tasks', 'payload', 'tasks.payload is NOT NULL');
SELECT col_not_null('tasklease', 'tasks', 'status', 'tasks.status is NOT NULL');

SELECT col_type_is('tasklease', 'tasks', 'dedupe_key', 'text', 'tasks.dedupe_key is text');
SELECT has_table('tasklease', 'queue_settings', 'table queue_settings exists');
SELECT col_is_pk('tasklease', 'queue_settings', 'queue', 'queue_settings.queue is the primary key');
SELECT has_table('tasklease', 'periodic_schedules', 'table periodic_schedules exists');
SELECT col_is_pk('tasklease', 'periodic_schedules', 'name', 'periodic_schedules.name is the primary key');
SELECT has_view('tasklease', 'queues', 'view queues exists');
SELECT has_view('tasklease', 'periodic_tasks', 'view periodic_tasks exists');

SELECT col_type_is('tasklease', 'workers', 'owner_id', 'text', 'workers.owner_id is text');
SELECT col_is_pk('tasklease', 'workers', 'owner_id', 'workers.owner_id is the primary key');
SELECT col_type_is('tasklease', 'workers', 'last_heartbeat', 'timestamp with time zone',
    'workers.last_heartbeat is timestamptz');
SELECT has_column('tasklease', 'workers', 'started_at', 'workers.started_at exists');
SELECT has_column('tasklease', 'workers', 'host', 'workers.host exists');
SELECT has_column('tasklease', 'workers', 'pid', 'workers.pid exists');
SELECT has_column('tasklease', 'workers', 'incarnation', 'workers.incarnation exists');
SELECT col_type_is('tasklease', 'workers', 'info', 'jsonb', 'workers.info is jsonb');

SELECT col_is_pk('tasklease', 'settings', 'name', 'settings.name is the primary key');
SELECT col_type_is('tasklease', 'settings', 'value', 'integer', 'settings.value is int');
SELECT col_not_null('tasklease', 'settings', 'value', 'settings.value is NOT NULL');
SELECT set_has(
    'SELECT name FROM tasklease.settings',
    $$VALUES ('lease_s'), ('stale_s'), ('max_requeue'), ('reap_batch'), ('worker_ttl_s'),
        ('max_attempts')$$,
    'settings holds the contract''s settings'
);

SELECT columns_are('tasklease', 'reaper_log',
    ARRAY['id', 'at', 'task_id', 'action', 'reason', 'owner_id', 'lease_token', 'attempts',
        'requeue_count', 'actor', 'db_user'],
    'reaper_log records task, action, reason, owner, token, time, and who decided');

SELECT has_view('tasklease', 'stale_tasks', 'view stale_tasks exists');
SELECT has_view('tasklease', 'task_status_counts', 'view task_status_counts exists');
SELECT has_sequence('tasklease', 'lease_token_seq', 'lease tokens come from a sequence');

SELECT * FROM finish();
ROLLBACK;

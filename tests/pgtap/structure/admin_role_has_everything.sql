-- tasklease_admin: every function (settings, reaper, cleanup, schedule, prune),
-- the tables, and both other roles.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(22);

SELECT schema_privs_are('tasklease', 'tasklease_admin', ARRAY['USAGE'],
    'tasklease_admin may use the schema');
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc AS p
      WHERE p.pronamespace = 'tasklease'::regnamespace
        AND NOT has_function_privilege('tasklease_admin', p.oid, 'EXECUTE')$$,
    'tasklease_admin can execute every function of the schema'
);
SELECT function_privs_are('tasklease', 'reap_stale_tasks', ARRAY['integer', 'boolean']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call reap_stale_tasks');
SELECT function_privs_are('tasklease', 'cleanup_stale_tasks', ARRAY['integer', 'integer', 'integer', 'boolean']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call cleanup_stale_tasks');
SELECT function_privs_are('tasklease', 'schedule_reaper', ARRAY['text', 'text']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call schedule_reaper');
SELECT function_privs_are('tasklease', 'unschedule_reaper', ARRAY[]::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call unschedule_reaper');
SELECT function_privs_are('tasklease', 'set_setting', ARRAY['text', 'integer']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call set_setting');
SELECT function_privs_are('tasklease', 'prune_finished_tasks', ARRAY['integer']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call prune_finished_tasks');
SELECT function_privs_are('tasklease', 'prune_reaper_log', ARRAY['integer']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call prune_reaper_log');
SELECT table_privs_are('tasklease', 'tasks', 'tasklease_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'tasklease_admin may read and write table tasks');
SELECT table_privs_are('tasklease', 'workers', 'tasklease_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'tasklease_admin may read and write table workers');
SELECT table_privs_are('tasklease', 'settings', 'tasklease_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'tasklease_admin may read and write table settings');
SELECT table_privs_are('tasklease', 'reaper_log', 'tasklease_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'tasklease_admin may read and write table reaper_log');
SELECT function_privs_are('tasklease', 'set_queue', ARRAY['text', 'integer', 'boolean']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call set_queue');
SELECT function_privs_are('tasklease', 'schedule_task', ARRAY['text', 'text', 'jsonb', 'text', 'integer', 'integer']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call schedule_task');
SELECT function_privs_are('tasklease', 'unschedule_task', ARRAY['text']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call unschedule_task');
SELECT function_privs_are('tasklease', 'enqueue_periodic', ARRAY['text', 'timestamp with time zone']::name[], 'tasklease_admin', ARRAY['EXECUTE'],
    'tasklease_admin may call enqueue_periodic (the role the periodic jobs run as needs it)');
SELECT table_privs_are('tasklease', 'queue_settings', 'tasklease_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'tasklease_admin may read and write table queue_settings');
SELECT table_privs_are('tasklease', 'periodic_schedules', 'tasklease_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
    'tasklease_admin may read and write table periodic_schedules');
SELECT is_member_of('tasklease_worker', ARRAY['tasklease_admin'],
    'tasklease_admin holds tasklease_worker');
SELECT is_member_of('tasklease_producer', ARRAY['tasklease_admin'],
    'tasklease_admin holds tasklease_producer');
SELECT is_empty(
    $$SELECT rolname FROM pg_roles
      WHERE rolname IN ('tasklease_worker', 'tasklease_producer', 'tasklease_admin')
        AND (rolcanlogin OR rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb)$$,
    'the tasklease roles are plain NOLOGIN group roles'
);

SELECT * FROM finish();
ROLLBACK;

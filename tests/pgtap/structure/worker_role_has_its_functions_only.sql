-- tasklease_worker: claim, renew, heartbeat, complete, fail, release, recover;
-- no direct table access, read-only status views and the console's reads.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(47);

SELECT schema_privs_are('tasklease', 'tasklease_worker', ARRAY['USAGE'],
    'tasklease_worker may use the schema, not create in it');
SELECT set_eq(
    $$SELECT p.oid::regprocedure FROM pg_proc AS p
      WHERE p.pronamespace = 'tasklease'::regnamespace
        AND has_function_privilege('tasklease_worker', p.oid, 'EXECUTE')$$,
    $$VALUES ('tasklease.claim_task(text, text, integer)'::regprocedure), ('tasklease.claim_tasks(text, integer, text, integer)'::regprocedure), ('tasklease.renew_lease(bigint, text, bigint, integer)'::regprocedure), ('tasklease.renew_leases(text, bigint[], bigint[], integer)'::regprocedure), ('tasklease.heartbeat(text, jsonb)'::regprocedure), ('tasklease.register_worker(text, text, text, integer, jsonb, boolean, text)'::regprocedure), ('tasklease.worker_stopped(text, text)'::regprocedure), ('tasklease.complete_task(bigint, text, bigint, jsonb)'::regprocedure), ('tasklease.complete_tasks(text, bigint[], bigint[], jsonb[])'::regprocedure), ('tasklease.fail_task(bigint, text, bigint, text, integer)'::regprocedure), ('tasklease.release_owner(text, bigint[])'::regprocedure), ('tasklease.release_tasks(text, bigint[], bigint[])'::regprocedure), ('tasklease.recover_owner(text)'::regprocedure), ('tasklease.reap_if_due(text)'::regprocedure), ('tasklease.owned_tasks(text)'::regprocedure), ('tasklease.completed_by(text, bigint[], bigint[])'::regprocedure), ('tasklease._setting(text)'::regprocedure), ('tasklease._stale_reason(timestamp with time zone, timestamp with time zone, timestamp with time zone, timestamp with time zone, timestamp with time zone, integer, integer)'::regprocedure), ('tasklease._budget_action(integer, integer)'::regprocedure), ('tasklease._worker_alive(timestamp with time zone, timestamp with time zone, timestamp with time zone, integer)'::regprocedure), ('tasklease.console_tasks(text, tasklease.task_status, bigint, integer)'::regprocedure), ('tasklease.console_queues(integer)'::regprocedure), ('tasklease.console_throughput(integer)'::regprocedure), ('tasklease.console_decisions(bigint, text, text, bigint, integer)'::regprocedure), ('tasklease.console_decision_counts(integer)'::regprocedure), ('tasklease.get_task(bigint)'::regprocedure), ('tasklease._cron_jobs()'::regprocedure), ('tasklease._periodic_job(text)'::regprocedure)$$,

    'tasklease_worker can execute its functions (and the status views'' helpers) only'
);
SELECT function_privs_are('tasklease', 'claim_task', ARRAY['text', 'text', 'integer']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call claim_task');
SELECT function_privs_are('tasklease', 'claim_tasks', ARRAY['text', 'integer', 'text', 'integer']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call claim_tasks');
SELECT function_privs_are('tasklease', 'renew_lease', ARRAY['bigint', 'text', 'bigint', 'integer']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call renew_lease');
SELECT function_privs_are('tasklease', 'renew_leases', ARRAY['text', 'bigint[]', 'bigint[]', 'integer']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call renew_leases');
SELECT function_privs_are('tasklease', 'heartbeat', ARRAY['text', 'jsonb']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call heartbeat');
SELECT function_privs_are('tasklease', 'register_worker', ARRAY['text', 'text', 'text', 'integer', 'jsonb', 'boolean', 'text']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call register_worker');
SELECT function_privs_are('tasklease', 'worker_stopped', ARRAY['text', 'text']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call worker_stopped');
SELECT function_privs_are('tasklease', 'complete_task', ARRAY['bigint', 'text', 'bigint', 'jsonb']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call complete_task');
SELECT function_privs_are('tasklease', 'complete_tasks', ARRAY['text', 'bigint[]', 'bigint[]', 'jsonb[]']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call complete_tasks');
SELECT function_privs_are('tasklease', 'fail_task', ARRAY['bigint', 'text', 'bigint', 'text', 'integer']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call fail_task');
SELECT function_privs_are('tasklease', 'release_owner', ARRAY['text', 'bigint[]']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call release_owner');
SELECT function_privs_are('tasklease', 'release_tasks', ARRAY['text', 'bigint[]', 'bigint[]']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call release_tasks');
SELECT function_privs_are('tasklease', 'recover_owner', ARRAY['text']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call recover_owner');
SELECT function_privs_are('tasklease', 'owned_tasks', ARRAY['text']::name[], 'tasklease_worker',
    ARRAY['EXECUTE'], 'tasklease_worker may call owned_tasks (shim reconnect helper)');
SELECT function_privs_are('tasklease', 'completed_by', ARRAY['text', 'bigint[]', 'bigint[]']::name[],
    'tasklease_worker', ARRAY['EXECUTE'], 'tasklease_worker may call completed_by (shim reconnect helper)');
SELECT function_privs_are('tasklease', 'enqueue', ARRAY['jsonb', 'text', 'timestamp with time zone', 'integer', 'integer', 'text', 'interval']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call enqueue');
SELECT function_privs_are('tasklease', 'enqueue_many', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call enqueue_many');
SELECT function_privs_are('tasklease', 'cancel_task', ARRAY['bigint']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call cancel_task');
SELECT function_privs_are('tasklease', 'get_task', ARRAY['bigint']::name[], 'tasklease_worker', ARRAY['EXECUTE'],
    'tasklease_worker may call get_task (the console''s task page)');
SELECT function_privs_are('tasklease', 'reap_stale_tasks', ARRAY['integer', 'boolean']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call reap_stale_tasks');
SELECT function_privs_are('tasklease', 'cleanup_stale_tasks', ARRAY['integer', 'integer', 'integer', 'boolean']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call cleanup_stale_tasks');
SELECT function_privs_are('tasklease', 'schedule_reaper', ARRAY['text', 'text']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call schedule_reaper');
SELECT function_privs_are('tasklease', 'unschedule_reaper', ARRAY[]::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call unschedule_reaper');
SELECT function_privs_are('tasklease', 'set_setting', ARRAY['text', 'integer']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call set_setting');
SELECT function_privs_are('tasklease', 'prune_finished_tasks', ARRAY['integer']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call prune_finished_tasks');
SELECT function_privs_are('tasklease', 'prune_reaper_log', ARRAY['integer']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call prune_reaper_log');
SELECT table_privs_are('tasklease', 'tasks', 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker has no privilege on table tasks');
SELECT table_privs_are('tasklease', 'workers', 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker has no privilege on table workers');
SELECT table_privs_are('tasklease', 'settings', 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker has no privilege on table settings');
SELECT table_privs_are('tasklease', 'reaper_log', 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker has no privilege on table reaper_log');
SELECT table_privs_are('tasklease', 'schema_migrations', 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker has no privilege on table schema_migrations');
SELECT table_privs_are('tasklease', 'task_status_counts', 'tasklease_worker', ARRAY['SELECT'],
    'tasklease_worker may read view task_status_counts');
SELECT table_privs_are('tasklease', 'stale_tasks', 'tasklease_worker', ARRAY['SELECT'],
    'tasklease_worker may read view stale_tasks');
SELECT table_privs_are('tasklease', 'worker_status', 'tasklease_worker', ARRAY['SELECT'],
    'tasklease_worker may read view worker_status');
SELECT table_privs_are('tasklease', 'reaper_activity', 'tasklease_worker', ARRAY['SELECT'],
    'tasklease_worker may read view reaper_activity');

SELECT function_privs_are('tasklease', 'retry_task', ARRAY['bigint']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call retry_task (the console''s actions are the admin''s)');
SELECT function_privs_are('tasklease', 'run_task_now', ARRAY['bigint']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call run_task_now (the console''s actions are the admin''s)');
SELECT function_privs_are('tasklease', 'take_back_task', ARRAY['bigint', 'bigint']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call take_back_task (the console''s actions are the admin''s)');
SELECT function_privs_are('tasklease', 'enqueue_tasks', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call enqueue_tasks');
SELECT function_privs_are('tasklease', 'set_queue', ARRAY['text', 'integer', 'boolean']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call set_queue');
SELECT function_privs_are('tasklease', 'schedule_task', ARRAY['text', 'text', 'jsonb', 'text', 'integer', 'integer']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call schedule_task');
SELECT function_privs_are('tasklease', 'enqueue_periodic', ARRAY['text', 'timestamp with time zone']::name[], 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker may not call enqueue_periodic');
SELECT table_privs_are('tasklease', 'queue_settings', 'tasklease_worker', ARRAY[]::text[],
    'tasklease_worker has no privilege on table queue_settings');
SELECT table_privs_are('tasklease', 'queues', 'tasklease_worker', ARRAY['SELECT'],
    'tasklease_worker may read view queues');
SELECT table_privs_are('tasklease', 'periodic_tasks', 'tasklease_worker', ARRAY['SELECT'],
    'tasklease_worker may read view periodic_tasks');

SELECT * FROM finish();
ROLLBACK;

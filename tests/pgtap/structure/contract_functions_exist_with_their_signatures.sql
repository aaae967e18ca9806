-- Every contract function exists with its argument types and return type, and
-- every public function is SECURITY DEFINER (workers and producers have no
-- table privileges of their own).
BEGIN;
\ir ../_fixtures.psql
SELECT plan(112);

SELECT has_function('tasklease', 'enqueue', ARRAY['jsonb', 'text', 'timestamp with time zone', 'integer', 'integer', 'text', 'interval'], 'enqueue(jsonb, text, timestamp with time zone, integer, integer, text, interval) exists');
SELECT function_returns('tasklease', 'enqueue', ARRAY['jsonb', 'text', 'timestamp with time zone', 'integer', 'integer', 'text', 'interval'], 'bigint',
    'enqueue returns bigint');
SELECT is_definer('tasklease', 'enqueue', ARRAY['jsonb', 'text', 'timestamp with time zone', 'integer', 'integer', 'text', 'interval'], 'enqueue is SECURITY DEFINER');

SELECT has_function('tasklease', 'enqueue_many', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval'], 'enqueue_many(jsonb[], text, timestamp with time zone, integer, integer, text[], interval) exists');
SELECT function_returns('tasklease', 'enqueue_many', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval'], 'setof bigint',
    'enqueue_many returns setof bigint');
SELECT is_definer('tasklease', 'enqueue_many', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval'], 'enqueue_many is SECURITY DEFINER');

SELECT has_function('tasklease', 'enqueue_tasks', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval'], 'enqueue_tasks(jsonb[], text, timestamp with time zone, integer, integer, text[], interval) exists');
SELECT function_returns('tasklease', 'enqueue_tasks', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval'], 'setof tasklease.enqueued',
    'enqueue_tasks returns setof tasklease.enqueued');
SELECT is_definer('tasklease', 'enqueue_tasks', ARRAY['jsonb[]', 'text', 'timestamp with time zone', 'integer', 'integer', 'text[]', 'interval'], 'enqueue_tasks is SECURITY DEFINER');

SELECT has_function('tasklease', 'set_queue', ARRAY['text', 'integer', 'boolean'], 'set_queue(text, integer, boolean) exists');
SELECT function_returns('tasklease', 'set_queue', ARRAY['text', 'integer', 'boolean'], 'tasklease.queue_settings',
    'set_queue returns tasklease.queue_settings');
SELECT is_definer('tasklease', 'set_queue', ARRAY['text', 'integer', 'boolean'], 'set_queue is SECURITY DEFINER');

SELECT has_function('tasklease', 'schedule_task', ARRAY['text', 'text', 'jsonb', 'text', 'integer', 'integer'], 'schedule_task(text, text, jsonb, text, integer, integer) exists');
SELECT function_returns('tasklease', 'schedule_task', ARRAY['text', 'text', 'jsonb', 'text', 'integer', 'integer'], 'bigint',
    'schedule_task returns bigint');
SELECT is_definer('tasklease', 'schedule_task', ARRAY['text', 'text', 'jsonb', 'text', 'integer', 'integer'], 'schedule_task is SECURITY DEFINER');

SELECT has_function('tasklease', 'unschedule_task', ARRAY['text'], 'unschedule_task(text) exists');
SELECT function_returns('tasklease', 'unschedule_task', ARRAY['text'], 'boolean',
    'unschedule_task returns boolean');
SELECT is_definer('tasklease', 'unschedule_task', ARRAY['text'], 'unschedule_task is SECURITY DEFINER');

SELECT has_function('tasklease', 'enqueue_periodic', ARRAY['text', 'timestamp with time zone'], 'enqueue_periodic(text, timestamp with time zone) exists');
SELECT function_returns('tasklease', 'enqueue_periodic', ARRAY['text', 'timestamp with time zone'], 'bigint',
    'enqueue_periodic returns bigint');
SELECT is_definer('tasklease', 'enqueue_periodic', ARRAY['text', 'timestamp with time zone'], 'enqueue_periodic is SECURITY DEFINER');

SELECT has_function('tasklease', 'claim_task', ARRAY['text', 'text', 'integer'], 'claim_task(text, text, integer) exists');
SELECT function_returns('tasklease', 'claim_task', ARRAY['text', 'text', 'integer'], 'setof tasklease.claimed_task',
    'claim_task returns setof tasklease.claimed_task');
SELECT is_definer('tasklease', 'claim_task', ARRAY['text', 'text', 'integer'], 'claim_task is SECURITY DEFINER');

SELECT has_function('tasklease', 'claim_tasks', ARRAY['text', 'integer', 'text', 'integer'], 'claim_tasks(text, integer, text, integer) exists');
SELECT function_returns('tasklease', 'claim_tasks', ARRAY['text', 'integer', 'text', 'integer'], 'setof tasklease.claimed_task',
    'claim_tasks returns setof tasklease.claimed_task');
SELECT is_definer('tasklease', 'claim_tasks', ARRAY['text', 'integer', 'text', 'integer'], 'claim_tasks is SECURITY DEFINER');

SELECT has_function('tasklease', 'renew_lease', ARRAY['bigint', 'text', 'bigint', 'integer'], 'renew_lease(bigint, text, bigint, integer) exists');
SELECT function_returns('tasklease', 'renew_lease', ARRAY['bigint', 'text', 'bigint', 'integer'], 'timestamp with time zone',
    'renew_lease returns timestamp with time zone');
SELECT is_definer('tasklease', 'renew_lease', ARRAY['bigint', 'text', 'bigint', 'integer'], 'renew_lease is SECURITY DEFINER');

SELECT has_function('tasklease', 'renew_leases', ARRAY['text', 'bigint[]', 'bigint[]', 'integer'], 'renew_leases(text, bigint[], bigint[], integer) exists');
SELECT function_returns('tasklease', 'renew_leases', ARRAY['text', 'bigint[]', 'bigint[]', 'integer'], 'setof record',
    'renew_leases returns setof record');
SELECT is_definer('tasklease', 'renew_leases', ARRAY['text', 'bigint[]', 'bigint[]', 'integer'], 'renew_leases is SECURITY DEFINER');

SELECT has_function('tasklease', 'heartbeat', ARRAY['text', 'jsonb'], 'heartbeat(text, jsonb) exists');
SELECT function_returns('tasklease', 'heartbeat', ARRAY['text', 'jsonb'], 'void',
    'heartbeat returns void');
SELECT is_definer('tasklease', 'heartbeat', ARRAY['text', 'jsonb'], 'heartbeat is SECURITY DEFINER');

SELECT has_function('tasklease', 'register_worker', ARRAY['text', 'text', 'text', 'integer', 'jsonb', 'boolean', 'text'], 'register_worker(text, text, text, integer, jsonb, boolean, text) exists');
SELECT function_returns('tasklease', 'register_worker', ARRAY['text', 'text', 'text', 'integer', 'jsonb', 'boolean', 'text'], 'tasklease.workers',
    'register_worker returns tasklease.workers');
SELECT is_definer('tasklease', 'register_worker', ARRAY['text', 'text', 'text', 'integer', 'jsonb', 'boolean', 'text'], 'register_worker is SECURITY DEFINER');

SELECT has_function('tasklease', 'worker_stopped', ARRAY['text', 'text'], 'worker_stopped(text, text) exists');
SELECT function_returns('tasklease', 'worker_stopped', ARRAY['text', 'text'], 'boolean',
    'worker_stopped returns boolean');
SELECT is_definer('tasklease', 'worker_stopped', ARRAY['text', 'text'], 'worker_stopped is SECURITY DEFINER');

SELECT has_function('tasklease', 'complete_task', ARRAY['bigint', 'text', 'bigint', 'jsonb'], 'complete_task(bigint, text, bigint, jsonb) exists');
SELECT function_returns('tasklease', 'complete_task', ARRAY['bigint', 'text', 'bigint', 'jsonb'], 'boolean',
    'complete_task returns boolean');
SELECT is_definer('tasklease', 'complete_task', ARRAY['bigint', 'text', 'bigint', 'jsonb'], 'complete_task is SECURITY DEFINER');

SELECT has_function('tasklease', 'complete_tasks', ARRAY['text', 'bigint[]', 'bigint[]', 'jsonb[]'], 'complete_tasks(text, bigint[], bigint[], jsonb[]) exists');
SELECT function_returns('tasklease', 'complete_tasks', ARRAY['text', 'bigint[]', 'bigint[]', 'jsonb[]'], 'setof bigint',
    'complete_tasks returns setof bigint');
SELECT is_definer('tasklease', 'complete_tasks', ARRAY['text', 'bigint[]', 'bigint[]', 'jsonb[]'], 'complete_tasks is SECURITY DEFINER');

SELECT has_function('tasklease', 'fail_task', ARRAY['bigint', 'text', 'bigint', 'text', 'integer'], 'fail_task(bigint, text, bigint, text, integer) exists');
SELECT function_returns('tasklease', 'fail_task', ARRAY['bigint', 'text', 'bigint', 'text', 'integer'], 'tasklease.task_status',
    'fail_task returns tasklease.task_status');
SELECT is_definer('tasklease', 'fail_task', ARRAY['bigint', 'text', 'bigint', 'text', 'integer'], 'fail_task is SECURITY DEFINER');

SELECT has_function('tasklease', 'cancel_task', ARRAY['bigint'], 'cancel_task(bigint) exists');
SELECT function_returns('tasklease', 'cancel_task', ARRAY['bigint'], 'boolean',
    'cancel_task returns boolean');
SELECT is_definer('tasklease', 'cancel_task', ARRAY['bigint'], 'cancel_task is SECURITY DEFINER');

SELECT has_function('tasklease', 'get_task', ARRAY['bigint'], 'get_task(bigint) exists');
SELECT function_returns('tasklease', 'get_task', ARRAY['bigint'], 'setof tasklease.tasks',
    'get_task returns setof tasklease.tasks');
SELECT is_definer('tasklease', 'get_task', ARRAY['bigint'], 'get_task is SECURITY DEFINER');

SELECT has_function('tasklease', 'release_owner', ARRAY['text', 'bigint[]'], 'release_owner(text, bigint[]) exists');
SELECT function_returns('tasklease', 'release_owner', ARRAY['text', 'bigint[]'], 'integer',
    'release_owner returns integer');
SELECT is_definer('tasklease', 'release_owner', ARRAY['text', 'bigint[]'], 'release_owner is SECURITY DEFINER');
SELECT has_function('tasklease', 'release_tasks', ARRAY['text', 'bigint[]', 'bigint[]'], 'release_tasks(text, bigint[], bigint[]) exists');
SELECT function_returns('tasklease', 'release_tasks', ARRAY['text', 'bigint[]', 'bigint[]'], 'setof bigint',
    'release_tasks returns setof bigint');
SELECT is_definer('tasklease', 'release_tasks', ARRAY['text', 'bigint[]', 'bigint[]'], 'release_tasks is SECURITY DEFINER');

SELECT has_function('tasklease', 'recover_owner', ARRAY['text'], 'recover_owner(text) exists');
SELECT function_returns('tasklease', 'recover_owner', ARRAY['text'], 'integer',
    'recover_owner returns integer');
SELECT is_definer('tasklease', 'recover_owner', ARRAY['text'], 'recover_owner is SECURITY DEFINER');

SELECT has_function('tasklease', 'reap_stale_tasks', ARRAY['integer', 'boolean'], 'reap_stale_tasks(integer, boolean) exists');
SELECT function_returns('tasklease', 'reap_stale_tasks', ARRAY['integer', 'boolean'], 'setof tasklease.reap_result',
    'reap_stale_tasks returns setof tasklease.reap_result');
SELECT is_definer('tasklease', 'reap_stale_tasks', ARRAY['integer', 'boolean'], 'reap_stale_tasks is SECURITY DEFINER');

SELECT has_function('tasklease', 'cleanup_stale_tasks', ARRAY['integer', 'integer', 'integer', 'boolean'], 'cleanup_stale_tasks(integer, integer, integer, boolean) exists');
SELECT function_returns('tasklease', 'cleanup_stale_tasks', ARRAY['integer', 'integer', 'integer', 'boolean'], 'setof tasklease.reap_result',
    'cleanup_stale_tasks returns setof tasklease.reap_result');
SELECT is_definer('tasklease', 'cleanup_stale_tasks', ARRAY['integer', 'integer', 'integer', 'boolean'], 'cleanup_stale_tasks is SECURITY DEFINER');

SELECT has_function('tasklease', 'schedule_reaper', ARRAY['text', 'text'], 'schedule_reaper(text, text) exists');
SELECT function_returns('tasklease', 'schedule_reaper', ARRAY['text', 'text'], 'bigint',
    'schedule_reaper returns bigint');
SELECT is_definer('tasklease', 'schedule_reaper', ARRAY['text', 'text'], 'schedule_reaper is SECURITY DEFINER');

SELECT has_function('tasklease', 'unschedule_reaper', ARRAY[]::text[], 'unschedule_reaper() exists');
SELECT function_returns('tasklease', 'unschedule_reaper', ARRAY[]::text[], 'boolean',
    'unschedule_reaper returns boolean');
SELECT is_definer('tasklease', 'unschedule_reaper', ARRAY[]::text[], 'unschedule_reaper is SECURITY DEFINER');

SELECT has_function('tasklease', 'set_setting', ARRAY['text', 'integer'], 'set_setting(text, integer) exists');
SELECT function_returns('tasklease', 'set_setting', ARRAY['text', 'integer'], 'integer',
    'set_setting returns integer');
SELECT is_definer('tasklease', 'set_setting', ARRAY['text', 'integer'], 'set_setting is SECURITY DEFINER');

SELECT has_function('tasklease', 'prune_finished_tasks', ARRAY['integer'], 'prune_finished_tasks(integer) exists');
SELECT function_returns('tasklease', 'prune_finished_tasks', ARRAY['integer'], 'integer',
    'prune_finished_tasks returns integer');
SELECT is_definer('tasklease', 'prune_finished_tasks', ARRAY['integer'], 'prune_finished_tasks is SECURITY DEFINER');

SELECT has_function('tasklease', 'prune_reaper_log', ARRAY['integer'], 'prune_reaper_log(integer) exists');
SELECT function_returns('tasklease', 'prune_reaper_log', ARRAY['integer'], 'integer',
    'prune_reaper_log returns integer');
SELECT is_definer('tasklease', 'prune_reaper_log', ARRAY['integer'], 'prune_reaper_log is SECURITY DEFINER');

-- The operations console (080_console.sql).
SELECT has_function('tasklease', 'retry_task', ARRAY['bigint'], 'retry_task(bigint) exists');
SELECT function_returns('tasklease', 'retry_task', ARRAY['bigint'], 'boolean',
    'retry_task returns boolean');
SELECT is_definer('tasklease', 'retry_task', ARRAY['bigint'], 'retry_task is SECURITY DEFINER');
SELECT has_function('tasklease', 'run_task_now', ARRAY['bigint'], 'run_task_now(bigint) exists');
SELECT function_returns('tasklease', 'run_task_now', ARRAY['bigint'], 'boolean',
    'run_task_now returns boolean');
SELECT is_definer('tasklease', 'run_task_now', ARRAY['bigint'], 'run_task_now is SECURITY DEFINER');
SELECT has_function('tasklease', 'take_back_task', ARRAY['bigint', 'bigint'], 'take_back_task(bigint, bigint) exists');
SELECT function_returns('tasklease', 'take_back_task', ARRAY['bigint', 'bigint'], 'boolean',
    'take_back_task returns boolean');
SELECT is_definer('tasklease', 'take_back_task', ARRAY['bigint', 'bigint'], 'take_back_task is SECURITY DEFINER');
SELECT has_function('tasklease', 'console_tasks', ARRAY['text', 'tasklease.task_status', 'bigint', 'integer'], 'console_tasks(text, tasklease.task_status, bigint, integer) exists');
SELECT function_returns('tasklease', 'console_tasks', ARRAY['text', 'tasklease.task_status', 'bigint', 'integer'], 'setof record',
    'console_tasks returns setof record');
SELECT is_definer('tasklease', 'console_tasks', ARRAY['text', 'tasklease.task_status', 'bigint', 'integer'], 'console_tasks is SECURITY DEFINER');
SELECT has_function('tasklease', 'console_queues', ARRAY['integer'], 'console_queues(integer) exists');
SELECT function_returns('tasklease', 'console_queues', ARRAY['integer'], 'setof record',
    'console_queues returns setof record');
SELECT is_definer('tasklease', 'console_queues', ARRAY['integer'], 'console_queues is SECURITY DEFINER');
SELECT has_function('tasklease', 'console_throughput', ARRAY['integer'], 'console_throughput(integer) exists');
SELECT function_returns('tasklease', 'console_throughput', ARRAY['integer'], 'setof record',
    'console_throughput returns setof record');
SELECT is_definer('tasklease', 'console_throughput', ARRAY['integer'], 'console_throughput is SECURITY DEFINER');

SELECT has_function('tasklease', 'console_decisions', ARRAY['bigint', 'text', 'text', 'bigint', 'integer'], 'console_decisions(bigint, text, text, bigint, integer) exists');
SELECT function_returns('tasklease', 'console_decisions', ARRAY['bigint', 'text', 'text', 'bigint', 'integer'], 'setof record',
    'console_decisions returns setof record');
SELECT is_definer('tasklease', 'console_decisions', ARRAY['bigint', 'text', 'text', 'bigint', 'integer'], 'console_decisions is SECURITY DEFINER');
SELECT has_function('tasklease', 'console_decision_counts', ARRAY['integer'], 'console_decision_counts(integer) exists');
SELECT function_returns('tasklease', 'console_decision_counts', ARRAY['integer'], 'setof record',
    'console_decision_counts returns setof record');
SELECT is_definer('tasklease', 'console_decision_counts', ARRAY['integer'], 'console_decision_counts is SECURITY DEFINER');

SELECT is(
    (SELECT count(*)::int FROM pg_proc
     WHERE pronamespace = 'tasklease'::regnamespace AND proname !~ '^_' AND NOT prosecdef),
    0, 'no public (non-underscore) function of the schema is SECURITY INVOKER'
);

SELECT * FROM finish();
ROLLBACK;

-- Settings defaults.  A row is inserted only when missing: an upgrade never
-- resets a value an operator chose; only the description is refreshed.
INSERT INTO tasklease.settings AS s (name, value, description) VALUES
('lease_s', 600, 'Seconds a claim or renewal holds a lease unless the caller says.'),
('stale_s', 900, 'Seconds until a running task without a lease is stale (no_lease).'),
('max_requeue', 3, 'Stale requeues a task may have (crash budget), then failed.'),
('reap_batch', 200, 'Most tasks one reaper or cleanup call acts on.'),
('worker_ttl_s', 60, 'Seconds without a heartbeat until a worker is dead.'),
('max_attempts', 5, 'Default handler-failure budget (claims per task).'),
('requeue_backoff_s', 5, 'Base delay before a reaped task runs again; doubles, jittered.'),
('retry_base_s', 10, 'Base delay of fail_task retries; doubles per attempt, jittered.'),
('retry_max_s', 3600, 'Cap on any retry or requeue delay.'),
('max_lease_s', 86400, 'Largest lease_s a caller may ask for.'),
('max_batch', 10000, 'Largest batch any claim, renewal or reaper call may ask for.'),
('max_owner_len', 200, 'Longest owner (worker name) accepted, in characters.'),
('max_payload_bytes', 1048576, 'Largest payload accepted by enqueue, in bytes.'),
('max_error_len', 8192, 'last_error texts are cut to this many characters.'),
('finished_retention_s', 604800, 'Finished tasks older than this are pruned.'),
('log_retention_s', 2592000, 'Reaper log rows older than this are pruned.'),
('prune_batch', 5000, 'Rows one prune batch deletes.'),
('prune_budget_ms', 5000, 'Time one prune() run may spend on further batches.'),
('reaper_lock_timeout_ms', 2000, 'lock_timeout of the reaper and cleanup calls.')
ON CONFLICT (name) DO UPDATE SET description = excluded.description;

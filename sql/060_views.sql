-- Status views for operators, producers and dashboards.  They read through
-- the view owner's rights, so the worker and producer roles need no table
-- privileges.  Time source: now().

CREATE OR REPLACE VIEW tasklease.task_status_counts AS
SELECT
    t.queue,
    t.status,
    count(*) AS tasks,
    min(t.created_at) AS oldest_created_at,
    max(t.updated_at) AS last_updated_at
FROM tasklease.tasks AS t
GROUP BY t.queue, t.status;

COMMENT ON VIEW tasklease.task_status_counts IS
'Number of tasks per queue and status.';

CREATE OR REPLACE VIEW tasklease.worker_status AS
SELECT
    w.owner_id,
    CASE
        WHEN w.stopped_at IS NOT NULL THEN 'stopped'
        WHEN NOT a.alive THEN 'dead'
        ELSE 'alive'
    END AS state,
    a.alive,
    w.last_heartbeat,
    extract(EPOCH FROM now() - w.last_heartbeat)::numeric(12, 1) AS seconds_since_heartbeat,
    coalesce(h.tasks_held, 0) AS tasks_held,
    w.host,
    w.pid,
    w.incarnation,
    w.started_at,
    w.stopped_at,
    w.info
FROM tasklease.workers AS w
CROSS JOIN LATERAL (
    SELECT tasklease._worker_alive(
        w.last_heartbeat, w.stopped_at, now(), tasklease._setting('worker_ttl_s')
    ) AS alive
) AS a
LEFT JOIN (
    SELECT t.owner_id, count(*) AS tasks_held
    FROM tasklease.tasks AS t
    WHERE t.status = 'running'
    GROUP BY t.owner_id
) AS h ON w.owner_id = h.owner_id;

COMMENT ON VIEW tasklease.worker_status IS
'Each worker name: alive, dead (no heartbeat for worker_ttl_s) or stopped, and the tasks it holds.';

CREATE OR REPLACE VIEW tasklease.reaper_activity AS
SELECT
    date_trunc('hour', l.at) AS hour,
    l.actor,
    l.reason,
    count(*) FILTER (WHERE l.action = 'requeued') AS requeued,
    count(*) FILTER (WHERE l.action = 'failed') AS failed,
    count(*) FILTER (WHERE l.action = 'released') AS released
FROM tasklease.reaper_log AS l
GROUP BY 1, 2, 3;

COMMENT ON VIEW tasklease.reaper_activity IS
'Reaper, cleanup, recovery and release decisions per hour, actor and reason.';

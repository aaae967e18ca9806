-- Per-queue flow control: a global limit on a queue's running tasks
-- (max_running, across every worker) and a pause, set with set_queue and
-- shown by the queues view.  Claims enforce them (_claim_controlled in
-- 031_claim_tasks.sql) only while the setting controlled_queues, kept here
-- as the number of queues with a limit or a pause, is above 0: a database
-- where no queue is controlled claims exactly as before.
-- Locks: the queue's queue_settings row; the settings row controlled_queues
-- (every change of a limit or pause recounts under it).
-- Time source: now().  Errors: TL005 (queue name), TL007 (max_running).

-- Keeps settings.controlled_queues equal to the number of controlled queues,
-- whatever changed tasklease.queue_settings (set_queue, or an admin's own
-- INSERT, UPDATE, DELETE or TRUNCATE).  Writers are serialised on the
-- counter's row, and the count is a later statement than the lock: it sees
-- every change committed before the lock was granted.
CREATE OR REPLACE FUNCTION tasklease._count_controlled_queues()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count int;
BEGIN
    -- The settings writers' lock before the row (sql/010_settings.sql).
    PERFORM tasklease._lock_settings();
    PERFORM 1 FROM tasklease.settings AS s WHERE s.name = 'controlled_queues' FOR UPDATE;
    SELECT count(*) INTO v_count FROM tasklease.queue_settings AS q
    WHERE q.max_running IS NOT NULL OR q.paused;
    UPDATE tasklease.settings AS s SET value = v_count
    WHERE s.name = 'controlled_queues' AND s.value <> v_count;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION tasklease._count_controlled_queues() IS
'Trigger of tasklease.queue_settings: recounts the controlled queues into the setting '
'controlled_queues, which the claim path reads.';

-- Not on UPDATE OF claimed_at: limited claims write that on every claim,
-- and must neither pay for a recount nor queue up on the counter's row.
CREATE OR REPLACE TRIGGER queue_settings_count
AFTER INSERT OR UPDATE OF max_running, paused OR DELETE OR TRUNCATE
ON tasklease.queue_settings
FOR EACH STATEMENT EXECUTE FUNCTION tasklease._count_controlled_queues();

-- NULL leaves a value as it is; max_running 0 removes the limit.  A limit
-- counts every running task of the queue, those running already included.
-- A lower limit stops no task that is running; the queue hands out nothing
-- until it is below its limit.
CREATE OR REPLACE FUNCTION tasklease.set_queue(
    queue text,
    max_running int DEFAULT NULL,
    paused boolean DEFAULT NULL
)
RETURNS tasklease.queue_settings
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_queue text := tasklease._check_queue(set_queue.queue);
    v_limit int := nullif(tasklease._check_range(
        'max_running', coalesce(set_queue.max_running, 0), 0, 1000000, 'TL007'), 0);
    r tasklease.queue_settings;
BEGIN
    INSERT INTO tasklease.queue_settings AS s (queue, max_running, paused)
    VALUES (v_queue, v_limit, coalesce(set_queue.paused, false))
    ON CONFLICT (queue) DO UPDATE SET
        max_running = CASE WHEN set_queue.max_running IS NULL
            THEN s.max_running ELSE excluded.max_running END,
        paused = coalesce(set_queue.paused, s.paused),
        updated_at = now()
    RETURNING s.* INTO r;
    IF NOT r.paused THEN
        -- Resumed, or room for more: wake the idle workers of this queue.
        PERFORM tasklease._notify(v_queue);
    END IF;
    RETURN r;
END
$$;

COMMENT ON FUNCTION tasklease.set_queue(text, int, boolean) IS
'Sets a queue''s max_running (a limit on its running tasks across all workers; 0 removes it) '
'and paused (a paused queue hands out nothing); NULL keeps a value.  Wakes the queue''s '
'workers unless paused.  Returns the queue''s settings row.';

CREATE OR REPLACE VIEW tasklease.queues AS
SELECT
    coalesce(s.queue, c.queue) AS queue,
    CASE
        WHEN s.paused THEN 'paused'
        WHEN s.max_running IS NOT NULL AND coalesce(c.running, 0) >= s.max_running THEN 'at_limit'
        ELSE 'active'
    END AS state,
    coalesce(s.paused, FALSE) AS paused,
    s.max_running,
    coalesce(c.queued, 0) AS queued,
    coalesce(c.runnable, 0) AS runnable,
    coalesce(c.running, 0) AS running,
    s.updated_at
FROM tasklease.queue_settings AS s
FULL JOIN (
    SELECT
        t.queue,
        count(*) FILTER (WHERE t.status = 'queued') AS queued,
        count(*) FILTER (WHERE t.status = 'queued' AND t.run_after <= now()) AS runnable,
        count(*) FILTER (WHERE t.status = 'running') AS running
    FROM tasklease.tasks AS t
    WHERE t.status IN ('queued', 'running')
    GROUP BY t.queue
) AS c ON s.queue = c.queue;

COMMENT ON VIEW tasklease.queues IS
'Every queue with tasks or settings: state (active, at_limit, paused), max_running, and its '
'queued, runnable and running tasks.';

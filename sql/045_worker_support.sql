-- Helpers of the Python worker shim: what a worker needs to find out after a
-- lost connection, without reading tables it has no privilege on.
--   owned_tasks     the leases this owner holds now (a claim whose reply was
--                   lost with the connection is adopted instead of leaking)
--   completed_by    which of the given (task, token) pairs are completed with
--                   exactly that token by this owner (a retried complete that
--                   returns nothing after a first attempt that did commit)
-- Both are read-only: no locks beyond a plain snapshot.  Errors: TL001 for a
-- bad owner, TL007 for arrays of different lengths.  Time source: none.

CREATE OR REPLACE FUNCTION tasklease.owned_tasks(owner text)
RETURNS SETOF tasklease.claimed_task
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.queue, t.payload, t.attempts, t.lease_token, t.lease_expires_at
    FROM tasklease.tasks AS t
    WHERE t.status = 'running'
        AND t.owner_id = tasklease._check_owner(owned_tasks.owner)
        AND t.lease_token IS NOT NULL
    ORDER BY t.id;
$$;

COMMENT ON FUNCTION tasklease.owned_tasks(text) IS
'The running tasks owner holds a lease on (claimed_task rows), in id order.';

CREATE OR REPLACE FUNCTION tasklease.completed_by(
    owner text,
    task_ids bigint [],
    lease_tokens bigint []
)
RETURNS SETOF bigint
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(completed_by.owner);
BEGIN
    PERFORM tasklease._check_pairs(task_ids, lease_tokens);
    RETURN QUERY
    SELECT t.id
    FROM tasklease.tasks AS t
    JOIN unnest(task_ids, lease_tokens) AS c (id, token) ON t.id = c.id
    WHERE t.status = 'completed' AND t.owner_id = v_owner AND t.lease_token = c.token
    ORDER BY t.id;
END
$$;

COMMENT ON FUNCTION tasklease.completed_by(text, bigint [], bigint []) IS
'The ids among task_ids that are completed by owner with the matching lease_token '
'(lets a worker tell its own committed completion from a lost lease after a reconnect).';

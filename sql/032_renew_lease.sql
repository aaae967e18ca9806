-- Lease renewal: extend a lease that (task_id, owner, lease_token) still
-- holds.  A lease is held until it is reaped, released or re-claimed: expiry
-- alone makes it reapable, not void.  Locks: the renewed rows.  Time: now().

CREATE OR REPLACE FUNCTION tasklease.renew_lease(
    task_id bigint,
    owner text,
    lease_token bigint DEFAULT NULL,
    lease_s int DEFAULT NULL
)
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(renew_lease.owner);
    v_lease interval := make_interval(secs => tasklease._lease_s(renew_lease.lease_s));
    v_expires timestamptz;
BEGIN
    PERFORM tasklease._check_id('task_id', renew_lease.task_id);
    -- The token is required (the parameter keeps its NULL default only so
    -- that a call without it gets this TL007 rather than "function does not
    -- exist"): by owner name alone, a worker could renew a task that was
    -- re-claimed since, even by itself under the same name.
    PERFORM tasklease._check_id('lease_token', renew_lease.lease_token);
    UPDATE tasklease.tasks AS t SET
        lease_expires_at = now() + v_lease, last_heartbeat = now(), updated_at = now()
    WHERE t.id = renew_lease.task_id
        AND t.status = 'running'
        AND t.owner_id = v_owner
        AND t.lease_token = renew_lease.lease_token
    RETURNING t.lease_expires_at INTO v_expires;
    RETURN v_expires;
END
$$;

COMMENT ON FUNCTION tasklease.renew_lease(bigint, text, bigint, int) IS
'Extends the lease (task_id, owner, lease_token) still holds to now() + lease_s; returns the '
'new expiry, or NULL when the lease is no longer held.  TL007 without a lease_token.';

CREATE OR REPLACE FUNCTION tasklease.renew_leases(
    owner text,
    task_ids bigint [],
    lease_tokens bigint [],
    lease_s int DEFAULT NULL
)
RETURNS TABLE (task_id bigint, lease_expires_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(renew_leases.owner);
    v_lease interval := make_interval(secs => tasklease._lease_s(renew_leases.lease_s));
BEGIN
    PERFORM tasklease._check_pairs(task_ids, lease_tokens);
    RETURN QUERY
    UPDATE tasklease.tasks AS t SET
        lease_expires_at = now() + v_lease, last_heartbeat = now(), updated_at = now()
    FROM unnest(task_ids, lease_tokens) AS r (id, token)
    WHERE t.id = r.id AND t.status = 'running' AND t.owner_id = v_owner
        AND t.lease_token = r.token
    RETURNING t.id, t.lease_expires_at;
END
$$;

COMMENT ON FUNCTION tasklease.renew_leases(text, bigint [], bigint [], int) IS
'Batch renew_lease: extends each (task_id, lease_token) lease this owner still holds; '
'returns one row per lease still held.';

-- Startup recovery: what a previous life of this worker name still holds is
-- treated as crashed.  Locks: the owner's running task rows.  Time: now().

CREATE OR REPLACE FUNCTION tasklease.recover_owner(owner text)
RETURNS int
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_owner text := tasklease._check_owner(recover_owner.owner);
    v_ids bigint[];
    v_n int;
BEGIN
    SELECT array_agg(t.id ORDER BY t.id) INTO v_ids
    FROM (
        SELECT t.id FROM tasklease.tasks AS t
        WHERE t.status = 'running' AND t.owner_id = v_owner
        ORDER BY t.id
        FOR UPDATE
    ) AS t;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    SELECT count(*) INTO v_n
    FROM tasklease._requeue_or_fail(
        v_ids, array_fill('owner_restarted'::text, ARRAY[cardinality(v_ids)]),
        tasklease._setting('max_requeue'), 'recover_owner'
    );
    RETURN v_n;
END
$$;

COMMENT ON FUNCTION tasklease.recover_owner(text) IS
'Startup recovery: what a previous life of worker name owner still runs is treated as '
'crashed (reason owner_restarted, crash budget as the reaper); returns how many.';

-- Group roles of tasklease (NOLOGIN; grant them to your login roles).
-- Created only when missing: roles are cluster-wide and may already exist
-- from another database of the same cluster.  Privileges are in 090_grants.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['tasklease_worker', 'tasklease_producer', 'tasklease_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

-- Functions added to schema tasklease later, outside migrate, must not be
-- executable by PUBLIC either.  ALTER DEFAULT PRIVILEGES ... IN SCHEMA can
-- only add privileges to the built-in default (EXECUTE for PUBLIC), never
-- take it away, so an event trigger revokes it as each function is created.
-- Creating an event trigger needs a superuser: without one this file only
-- reports that the trigger is missing (090_grants, next, still revokes PUBLIC on
-- every function that exists at each migrate).

CREATE OR REPLACE FUNCTION tasklease._revoke_public_execute()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.object_identity
        FROM pg_event_trigger_ddl_commands() AS c
        WHERE c.object_type IN ('function', 'procedure') AND c.schema_name = 'tasklease'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', r.object_identity);
    END LOOP;
END
$$;

COMMENT ON FUNCTION tasklease._revoke_public_execute() IS
'Event trigger: revokes EXECUTE from PUBLIC on every function created in schema tasklease.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = 'tasklease_revoke_public')
    THEN
        RETURN;
    END IF;
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        CREATE EVENT TRIGGER tasklease_revoke_public ON ddl_command_end
        WHEN TAG IN ('CREATE FUNCTION', 'CREATE PROCEDURE')
        EXECUTE FUNCTION tasklease._revoke_public_execute();
    ELSE
        RAISE NOTICE 'tasklease: not a superuser, event trigger tasklease_revoke_public not created'
            USING HINT = 'Functions added to schema tasklease by hand keep EXECUTE for PUBLIC '
                         'until the next tasklease migrate.';
    END IF;
END
$$;

-- A function added to schema tasklease outside migrate (by hand, by a later
-- release) is not executable by PUBLIC: the event trigger revokes it at once.
-- Functions created elsewhere keep the usual default.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(4);

SELECT ok(EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'tasklease_revoke_public'
                  AND evtenabled <> 'D'),
    'the event trigger tasklease_revoke_public exists and is enabled');

CREATE FUNCTION tasklease.tl_test_added_later() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE PROCEDURE tasklease.tl_test_proc_added_later() LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION tl_test.not_ours() RETURNS int LANGUAGE sql AS 'SELECT 1';

CREATE FUNCTION tl_test.public_can_execute(p regprocedure) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_proc AS f, aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) AS a
        WHERE f.oid = p AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
    );
$$;

SELECT ok(NOT tl_test.public_can_execute('tasklease.tl_test_added_later()'),
    'a function created later in schema tasklease is not executable by PUBLIC');
SELECT ok(NOT tl_test.public_can_execute('tasklease.tl_test_proc_added_later()'),
    'a procedure created later in schema tasklease is not executable by PUBLIC');
SELECT ok(tl_test.public_can_execute('tl_test.not_ours()'),
    'functions in other schemas keep the default (the trigger only touches tasklease)');

SELECT * FROM finish();
ROLLBACK;

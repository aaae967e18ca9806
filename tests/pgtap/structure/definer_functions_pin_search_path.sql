-- SECURITY DEFINER functions pin search_path to pg_catalog, pg_temp (or ''),
-- so a caller's objects can never stand in for pg_catalog's or tasklease's;
-- and no function of the schema is executable by PUBLIC.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(5);

SELECT cmp_ok(
    (SELECT count(*)::int FROM pg_proc
     WHERE pronamespace = 'tasklease'::regnamespace AND prosecdef),
    '>=', 23, 'the schema has its SECURITY DEFINER functions'
);
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'tasklease'::regnamespace AND p.prosecdef
        AND NOT coalesce(p.proconfig && ARRAY[
            'search_path=pg_catalog, pg_temp', 'search_path=""', 'search_path='
        ], false)$$,
    'every SECURITY DEFINER function has search_path pinned to pg_catalog, pg_temp or '''''
);
-- Every other function pins its search_path too, except the pure checks and
-- rules of 020_checks.sql that the hot paths call, and the wake lock of
-- 030_enqueue.sql and its rule, which enqueue inlines (a SET clause costs a GUC
-- save/restore per call and keeps a sql function from being inlined).  They
-- are not definers and name only pg_catalog and qualified tasklease objects.
-- A new function missing from this list must pin its search_path.
SELECT set_eq(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'tasklease'::regnamespace
        AND NOT coalesce(
            EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c (setting)
                    WHERE c.setting LIKE 'search_path=%'), false)$$,
    $$SELECT p::regprocedure::text FROM unnest(ARRAY[
        'tasklease._check_owner(text)', 'tasklease._check_owner_len(text,integer)',
        'tasklease._check_range(text,integer,integer,integer,text)',
        'tasklease._check_queue(text)', 'tasklease._queue_ok(text)', 'tasklease._try_wake_lock(text)',
        'tasklease._wake_due(text,timestamptz,interval)',
        'tasklease._check_id(text,bigint)',
        'tasklease._lease_s(integer)', 'tasklease._batch(text,integer,text)',
        'tasklease._budget_action(integer,integer)',
        'tasklease._worker_alive(timestamptz,timestamptz,timestamptz,integer)',
        'tasklease._check_results(bigint[],jsonb[])',
        'tasklease._stale_reason(timestamptz,timestamptz,timestamptz,timestamptz,'
            'timestamptz,integer,integer)'
    ]::regprocedure[]) AS p$$,
    'every function pins its search_path but the listed pure, non-definer helpers'
);
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'tasklease'::regnamespace
        AND (p.proacl IS NULL OR EXISTS (
            SELECT 1 FROM aclexplode(p.proacl) AS a
            WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))$$,
    'no function of the schema is executable by PUBLIC'
);
SELECT is_empty(
    $$SELECT c.relname FROM pg_class AS c
      WHERE c.relnamespace = 'tasklease'::regnamespace AND c.relkind IN ('r', 'v', 'S')
        AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) AS a WHERE a.grantee = 0)$$,
    'no table, view or sequence of the schema grants anything to PUBLIC'
);

SELECT * FROM finish();
ROLLBACK;

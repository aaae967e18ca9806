-- Worker and producer roles reach the queue only through the functions: no
-- direct table writes, no calls outside their role.
BEGIN;
\ir ../_fixtures.psql
SELECT plan(14);

SELECT tasklease.enqueue('{}') AS id \gset

SET LOCAL ROLE tasklease_worker;
SELECT
    tl_test.sqlstate_of('INSERT INTO tasklease.tasks (payload) VALUES (''{}'')') AS w_insert,
    tl_test.sqlstate_of('UPDATE tasklease.tasks SET priority = 1') AS w_update,
    tl_test.sqlstate_of('DELETE FROM tasklease.tasks') AS w_delete,
    tl_test.sqlstate_of('UPDATE tasklease.settings SET value = 1') AS w_settings,
    tl_test.sqlstate_of('SELECT * FROM tasklease.tasks') AS w_select,
    tl_test.sqlstate_of('SELECT tasklease.enqueue(''{}'')') AS w_enqueue,
    tl_test.sqlstate_of('SELECT tasklease.set_setting(''lease_s'', 1)') AS w_set,
    tl_test.sqlstate_of('SELECT * FROM tasklease.claim_task(''w'')') AS w_claim,
    tl_test.sqlstate_of('SELECT * FROM tasklease.stale_tasks') AS w_view \gset
RESET ROLE;

SET LOCAL ROLE tasklease_producer;
SELECT
    tl_test.sqlstate_of('INSERT INTO tasklease.tasks (payload) VALUES (''{}'')') AS p_insert,
    tl_test.sqlstate_of('UPDATE tasklease.tasks SET status = ''cancelled''') AS p_update,
    tl_test.sqlstate_of('SELECT * FROM tasklease.claim_task(''w'')') AS p_claim,
    tl_test.sqlstate_of('SELECT * FROM tasklease.cleanup_stale_tasks()') AS p_cleanup,
    tl_test.sqlstate_of('SELECT tasklease.enqueue(''{}'')') AS p_enqueue \gset
RESET ROLE;

SELECT is(:'w_insert'::text, '42501', 'worker: INSERT into tasks is denied');
SELECT is(:'w_update'::text, '42501', 'worker: UPDATE of tasks is denied');
SELECT is(:'w_delete'::text, '42501', 'worker: DELETE from tasks is denied');
SELECT is(:'w_settings'::text, '42501', 'worker: UPDATE of settings is denied');
SELECT is(:'w_select'::text, '42501', 'worker: reading the tasks table directly is denied');
SELECT is(:'w_enqueue'::text, '42501', 'worker: enqueue is denied');
SELECT is(:'w_set'::text, '42501', 'worker: set_setting is denied');
SELECT is(:'w_claim'::text, '00000', 'worker: claim_task is allowed');
SELECT is(:'w_view'::text, '00000', 'worker: the stale_tasks view is readable');
SELECT is(:'p_insert'::text, '42501', 'producer: INSERT into tasks is denied');
SELECT is(:'p_update'::text, '42501', 'producer: UPDATE of tasks is denied');
SELECT is(:'p_claim'::text, '42501', 'producer: claim_task is denied');
SELECT is(:'p_cleanup'::text, '42501', 'producer: cleanup_stale_tasks is denied');
SELECT is(:'p_enqueue'::text, '00000', 'producer: enqueue is allowed');

SELECT * FROM finish();
ROLLBACK;

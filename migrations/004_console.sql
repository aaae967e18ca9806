-- tasklease: no-transaction
-- 004_console: the index of the console's task list and counts.
--
-- Finished tasks are most of the table (1M beside a few hundred live ones is
-- ordinary).  The live states have their partial indexes already (claim order,
-- the running set); this one serves the finished states by queue, status and
-- id, so that a page of failed tasks, or a capped count, reads a few index
-- entries instead of every finished row.  Partial: a task enters it once, when
-- it finishes, so enqueue and claim pay nothing and completion one insert.  No
-- renewal column is indexed: renewals stay HOT.
--
-- Safe on a live table: built CONCURRENTLY (no lock that blocks writers), so
-- the migrator runs this file outside a transaction.  An interrupted build
-- leaves an invalid index behind; the DROP first makes a re-run start clean.

DROP INDEX CONCURRENTLY IF EXISTS tasklease.tasks_finished_queue_idx;

CREATE INDEX CONCURRENTLY tasks_finished_queue_idx
ON tasklease.tasks (queue, status, id)
WHERE status IN ('completed', 'failed', 'cancelled');

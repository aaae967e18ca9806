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
-- Safe on a live table: built CONCURRENTLY (no lock that blocks writers), by
-- the migrator outside the migration's transaction (see migrate.py).

-- tasklease:concurrently
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_finished_queue_idx
ON tasklease.tasks (queue, status, id)
WHERE status IN ('completed', 'failed', 'cancelled');

-- Issue 19 (usage accounting): one row per run of a task on a node, not one
-- per task. A node that steps aside for its person gives a task back to the
-- queue (`Released`), and the work it did counts for that node even though
-- the task ends elsewhere: `run` numbers a task's rows from 1, `released`
-- marks a run given back. Rows that were here are each a task's only run.
-- Keep in step with the other database's folder.
ALTER TABLE task_usage ADD COLUMN run BIGINT NOT NULL DEFAULT 1;
ALTER TABLE task_usage ADD COLUMN released BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_usage DROP CONSTRAINT task_usage_pkey;
ALTER TABLE task_usage ADD PRIMARY KEY (task_id, run);

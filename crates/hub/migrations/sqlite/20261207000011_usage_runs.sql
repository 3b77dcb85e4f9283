-- Issue 19 (usage accounting): one row per run of a task on a node, not one
-- per task. A node that steps aside for its person gives a task back to the
-- queue (`Released`), and the work it did counts for that node even though
-- the task ends elsewhere: `run` numbers a task's rows from 1, `released`
-- marks a run given back. Rows that were here are each a task's only run.
-- SQLite cannot change a primary key in place: the table is made again.
-- Keep in step with the other database's folder.
CREATE TABLE task_usage_runs (
    task_id   TEXT NOT NULL,
    run       BIGINT NOT NULL,
    node_id   TEXT NOT NULL,
    ended_at  BIGINT NOT NULL,
    released  BIGINT NOT NULL DEFAULT 0,
    usage     TEXT NOT NULL,
    PRIMARY KEY (task_id, run)
);
INSERT INTO task_usage_runs (task_id, run, node_id, ended_at, released, usage)
    SELECT task_id, 1, node_id, ended_at, 0, usage FROM task_usage;
DROP INDEX task_usage_node_ended;
DROP TABLE task_usage;
ALTER TABLE task_usage_runs RENAME TO task_usage;
CREATE INDEX task_usage_node_ended ON task_usage (node_id, ended_at);

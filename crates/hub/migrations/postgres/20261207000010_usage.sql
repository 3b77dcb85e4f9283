-- Issue 19 (usage accounting): what each task used on the node that ran it,
-- from that node's final report (wire::TaskUsage as JSON), with the node and
-- when the report came, so a node's usage adds up by day. Kept apart from
-- `tasks` (no foreign key) so the accounts outlive a task's removal.
-- Keep in step with the other database's folder.
CREATE TABLE task_usage (
    task_id   TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL,
    ended_at  BIGINT NOT NULL,
    usage     TEXT NOT NULL
);
CREATE INDEX task_usage_node_ended ON task_usage (node_id, ended_at);

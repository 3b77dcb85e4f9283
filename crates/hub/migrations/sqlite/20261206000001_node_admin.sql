-- Node administration (issue 15): renaming, relabeling, removing nodes,
-- rotating and revoking tokens, and targeting tasks at a node.
-- Keep in step with the other database's folder.

-- The agent asked to take only tasks that carry one of its labels (--only-labeled).
ALTER TABLE nodes ADD COLUMN only_labeled BIGINT NOT NULL DEFAULT 0;

-- When a token was last shown to the hub, recorded at most once a minute.
ALTER TABLE tokens ADD COLUMN last_used BIGINT;

-- The node id a job's `node:` key names; only that node takes the task.
ALTER TABLE tasks ADD COLUMN target_node TEXT;
-- The name of the node that held the task, kept once that node is removed.
ALTER TABLE tasks ADD COLUMN node_name TEXT;

-- Tokens that stopped working, by hash (never the token), so the hub can say
-- what happened when one is shown again: 'node_removed', 'token_replaced'
-- or 'token_revoked'.
CREATE TABLE revoked_tokens (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,   -- the node's or the admin token's name at the time
    reason     TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX tasks_by_target ON tasks (target_node, state);

-- The web console (issue 16): listing and filtering many tasks fast, and
-- nodes that drain. Keep in step with the other database's folder.

-- Pages of GET /v1/tasks are keyset pages on (created_at, id), newest first:
-- each filter has an index that yields its tasks in that order, so page
-- 1,000 costs what page 1 does.
CREATE INDEX tasks_by_created ON tasks (created_at, id);
CREATE INDEX tasks_by_state_created ON tasks (state, created_at, id);
CREATE INDEX tasks_by_node_created ON tasks (node_id, created_at, id);

-- A task's labels, one row each, for the `label` filter: the JSON list in
-- tasks.labels (kept for matching) indexes on neither database. created_at
-- is copied so that the label's index yields its tasks in page order.
CREATE TABLE task_labels (
    task_id     TEXT NOT NULL REFERENCES tasks(id),
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (task_id, label)
);
CREATE INDEX task_labels_by_label ON task_labels (label, created_at, task_id);
INSERT INTO task_labels (task_id, label, created_at)
    SELECT DISTINCT t.id, l.value, t.created_at FROM tasks t, json_array_elements_text(t.labels::json) AS l(value);

-- The agent says it is draining (gantry agent drain) in its heartbeats.
ALTER TABLE nodes ADD COLUMN draining BIGINT NOT NULL DEFAULT 0;

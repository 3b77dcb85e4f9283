-- Issue 19: GET /metrics reads two gauges of the tasks at every scrape.
-- Each of these indexes covers its query, so a scrape reads indexes alone,
-- never the tasks' rows (with their specs). Keep in step with the other
-- database's folder.

-- Tasks by state and their log bytes: SELECT state, COUNT(*), SUM(log_size) ... GROUP BY state.
CREATE INDEX tasks_by_state_log ON tasks (state, log_size);
-- Queued tasks by the labels they require: ... WHERE state = 'queued' GROUP BY labels,
-- read in the index's order, so no sort either.
CREATE INDEX tasks_by_state_labels ON tasks (state, labels);

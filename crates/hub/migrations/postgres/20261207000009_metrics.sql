-- Issue 19: GET /metrics counts tasks by state and adds up their log bytes
-- at every scrape. This index covers that query (SELECT state, COUNT(*),
-- SUM(log_size) ... GROUP BY state), so a scrape reads the index alone and
-- never the tasks' rows. Keep in step with the other database's folder.
CREATE INDEX tasks_by_state_log ON tasks (state, log_size);

-- When the hub received each log chunk (ms since the epoch, the hub's
-- clock), for the times a log viewer shows beside each line. Chunks stored
-- before this migration have none: NULL, and GET /v1/tasks/{id}/log/times
-- leaves them out.
ALTER TABLE log_chunks ADD COLUMN received_at BIGINT;

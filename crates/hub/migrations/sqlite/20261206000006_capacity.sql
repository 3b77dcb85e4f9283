-- Issue 17: nodes say what they can give and when they step aside for
-- their person; a released task keeps its checkpoint folder. Keep in step
-- with the other database's folder.

-- The last heartbeat's NodeCapacity and Yielding (JSON); NULL when it did
-- not say (capacity NULL: offer every task, as before).
ALTER TABLE nodes ADD COLUMN capacity TEXT;
ALTER TABLE nodes ADD COLUMN yielding TEXT;

-- The checkpoint folder (`tree:<sha256>`) a node left when it released the task.
ALTER TABLE tasks ADD COLUMN checkpoint TEXT;

-- Whether the task asks for GPUs (`resources.gpus`), so that dispatch parses
-- the specs of GPU tasks only, and skips them for a node that takes none.
ALTER TABLE tasks ADD COLUMN gpu_task BIGINT NOT NULL DEFAULT 0;
UPDATE tasks SET gpu_task = 1 WHERE json_extract(spec, '$.resources.gpus') IS NOT NULL;

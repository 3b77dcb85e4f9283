-- Issue 17: what a task used of the GPUs it held (memory, utilization,
-- energy, GPU-seconds), as its node's heartbeats report it: the latest
-- wire::TaskGpuUse as JSON, without its series; NULL for a task that held no
-- GPU. Keep in step with the other database's folder.
ALTER TABLE tasks ADD COLUMN gpu_use TEXT;

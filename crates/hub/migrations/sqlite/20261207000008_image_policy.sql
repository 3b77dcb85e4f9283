-- Issue 19: a node says which images it runs (`--allowed-images`,
-- `--pinned-images-only`) and dispatch does not offer it tasks it would
-- refuse. Keep in step with the other database's folder.

-- The node's ImagePolicy (JSON) from its last register or heartbeat; NULL
-- when it takes any image (and from agents older than the field).
ALTER TABLE nodes ADD COLUMN image_policy TEXT;

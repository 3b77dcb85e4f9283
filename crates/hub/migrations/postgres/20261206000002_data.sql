-- Which blobs each task may have read by its node: the job's files and
-- inputs, folder manifests and every file they list. Written at submit; a
-- node token may GET a blob only through a row here for a task it holds.
CREATE TABLE task_blobs (
    task_id  TEXT NOT NULL REFERENCES tasks(id),
    sha256   TEXT NOT NULL,
    PRIMARY KEY (task_id, sha256)
);
CREATE INDEX task_blobs_by_blob ON task_blobs (sha256, task_id);

-- Gantry hub schema, SQLite flavour. Keep in step with ../postgres/: the same
-- tables and columns, differing only in types SQLite spells otherwise.
CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    labels        TEXT NOT NULL DEFAULT '[]',   -- JSON list given by `hub node add`
    agent_labels  TEXT NOT NULL DEFAULT '[]',   -- JSON list the agent adds at register
    created_at    BIGINT NOT NULL,
    last_seen     BIGINT,
    online        BIGINT NOT NULL DEFAULT 0,
    accepting     BIGINT NOT NULL DEFAULT 1,
    version       TEXT,
    system        TEXT                           -- JSON SystemInfo
);

CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,                -- sha256 of the token; the token itself is never stored
    kind        TEXT NOT NULL,                   -- 'admin' or 'node'
    name        TEXT NOT NULL,
    node_id     TEXT REFERENCES nodes(id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,           -- UUIDv7: sorts by submission time
    name             TEXT NOT NULL,
    state            TEXT NOT NULL,
    spec             TEXT NOT NULL,              -- JSON JobSpec
    labels           TEXT NOT NULL,              -- JSON list, copied from the spec for matching
    node_id          TEXT REFERENCES nodes(id),
    exit_code        BIGINT,
    reason           TEXT,
    submitted_by     TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    assigned_at      BIGINT,
    accepted_at      BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    log_size         BIGINT NOT NULL DEFAULT 0,
    pending_command  TEXT,
    pull_done        BIGINT,
    pull_total       BIGINT,
    outputs          TEXT NOT NULL DEFAULT '[]'  -- JSON list of OutputFile
);
CREATE INDEX tasks_by_state ON tasks (state, id);
CREATE INDEX tasks_by_node ON tasks (node_id, state);

CREATE TABLE task_transitions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id  TEXT NOT NULL REFERENCES tasks(id),
    at       BIGINT NOT NULL,
    state    TEXT NOT NULL,
    reason   TEXT
);
CREATE INDEX task_transitions_by_task ON task_transitions (task_id, id);

CREATE TABLE log_chunks (
    task_id  TEXT NOT NULL REFERENCES tasks(id),
    start    BIGINT NOT NULL,                    -- byte offset of the chunk's first byte
    size     BIGINT NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (task_id, start)
);

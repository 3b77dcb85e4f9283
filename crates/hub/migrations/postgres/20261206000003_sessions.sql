-- The web console's sign-ins (issue 16). Keep in step with the other database's folder.

-- A browser's session, found by the sha256 of the secret in its cookie (the
-- secret itself is never stored). It ends at expires_at, when signed out
-- (the row is deleted), or when the admin token it came from is gone from
-- `tokens` (revoked or replaced): every lookup joins that table.
CREATE TABLE sessions (
    hash        TEXT PRIMARY KEY,   -- sha256 of the cookie's secret
    token_hash  TEXT NOT NULL,      -- tokens.hash of the admin token it signed in with
    name        TEXT NOT NULL,      -- that token's name
    csrf        TEXT NOT NULL,      -- the value calls that change something send in X-Gantry-Csrf
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_by_token ON sessions (token_hash);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

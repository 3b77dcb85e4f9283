//! The web console's sessions: a browser signed in with an admin token.
//!
//! The cookie holds a random secret of 256 bits; the table keeps only its
//! sha256 (as `tokens` keeps a token's), so a copy of the database signs
//! nobody in. A session lives until its `expires_at`, until it is signed
//! out (its row deleted), or until the admin token it came from leaves
//! `tokens` (revoked, or replaced by `renew_admin_token`): each lookup joins
//! `tokens`, so no revocation path needs to remember the sessions.

use sqlx::Row;

use super::Db;
use super::admin::Revocation;
use crate::HubError;
use crate::tokens::hash_token;

/// A live session, as the console is told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The name of the admin token it signed in with.
    pub name: String,
    /// When it ends, in Unix milliseconds.
    pub expires_at: i64,
    /// The value calls that change something must send in `X-Gantry-Csrf`.
    pub csrf: String,
}

/// What a cookie's secret names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFound {
    /// A live session.
    Live(Session),
    /// A session that passed its `expires_at`.
    Expired,
    /// A session whose admin token is gone, with why when the hub knows.
    TokenGone(Option<Revocation>),
    /// No session: signed out, or never made.
    Unknown,
}

/// A new random secret of 256 bits, in hex: a session's cookie or its CSRF value.
fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Db {
    /// Starts a session for the admin `token` (named `name`), ending at
    /// `now + lasts_ms`; returns the cookie's secret (stored only as a hash)
    /// and the session. Sessions past their end are cleared on the way.
    pub async fn start_session(
        &self,
        token: &str,
        name: &str,
        lasts_ms: i64,
        now: i64,
    ) -> Result<(String, Session), HubError> {
        let secret = new_secret();
        let session = Session {
            name: name.to_owned(),
            expires_at: now.saturating_add(lasts_ms),
            csrf: new_secret(),
        };
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (hash, token_hash, name, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash_token(&secret))
        .bind(hash_token(token))
        .bind(name)
        .bind(&session.csrf)
        .bind(now)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        Ok((secret, session))
    }

    /// The session a cookie's `secret` names; a live one notes its admin
    /// token's use as [`Db::caller`] does.
    pub async fn session(&self, secret: &str, now: i64) -> Result<SessionFound, HubError> {
        let hash = hash_token(secret);
        let row = sqlx::query(
            "SELECT s.token_hash, s.name, s.csrf, s.expires_at, k.hash AS live_hash, k.last_used \
             FROM sessions s LEFT JOIN tokens k ON k.hash = s.token_hash AND k.kind = 'admin' \
             WHERE s.hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(SessionFound::Unknown);
        };
        let expires_at: i64 = row.try_get("expires_at")?;
        let token_hash: String = row.try_get("token_hash")?;
        if expires_at <= now {
            self.end_session(secret).await?;
            return Ok(SessionFound::Expired);
        }
        if row.try_get::<Option<String>, _>("live_hash")?.is_none() {
            self.end_session(secret).await?;
            return Ok(SessionFound::TokenGone(
                self.revocation_by_hash(&token_hash).await?,
            ));
        }
        let last_used: Option<i64> = row.try_get("last_used")?;
        self.note_use(&token_hash, last_used, now).await?;
        Ok(SessionFound::Live(Session {
            name: row.try_get("name")?,
            expires_at,
            csrf: row.try_get("csrf")?,
        }))
    }

    /// Ends the session a cookie's `secret` names; whether there was one.
    pub async fn end_session(&self, secret: &str) -> Result<bool, HubError> {
        let done = sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(hash_token(secret))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many sessions are stored, live or not (for tests of cleanup).
    pub async fn session_count(&self) -> Result<i64, HubError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM sessions")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

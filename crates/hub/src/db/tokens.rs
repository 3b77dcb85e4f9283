//! Tokens: enrolling nodes and admins, and finding who holds a token.
//!
//! A node is made together with its first token (`gantry hub node add`), so
//! making a node lives here; what an enrolled node does is in `nodes.rs`.
//! Tokens are stored only as their hash ([`crate::tokens::hash_token`]), so a
//! token is shown once, when it is made, and never again.

use sqlx::Row;

use super::{Db, json};
use crate::HubError;
use crate::tokens::{TokenKind, hash_token};

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A person or script holding an admin token.
    Admin {
        /// The token's name.
        name: String,
    },
    /// An agent holding its node's token.
    Node {
        /// The node's id.
        id: String,
        /// The node's name.
        name: String,
    },
}

impl Db {
    /// Adds a node and its token; the token is returned once and stored only as a hash.
    pub async fn add_node(
        &self,
        name: &str,
        labels: &[String],
        now: i64,
    ) -> Result<String, HubError> {
        let id = uuid::Uuid::now_v7().to_string();
        let token = crate::tokens::new_token(TokenKind::Node);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM nodes WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(HubError::Exists(format!(
                "a node named \"{name}\" exists already; pick another name"
            )));
        }
        insert_node(&mut tx, &id, name, labels, now).await?;
        insert_node_token(&mut tx, &token, name, &id, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// A fresh token for the node `name`, made with `labels` if it is new;
    /// the node's earlier tokens stop working. The desktop app's local mode
    /// calls this at each start, so its node token lives only in memory.
    pub async fn renew_node_token(
        &self,
        name: &str,
        labels: &[String],
        now: i64,
    ) -> Result<String, HubError> {
        let token = crate::tokens::new_token(TokenKind::Node);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT id FROM nodes WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let id = match existing {
            Some(row) => row.try_get::<String, _>("id")?,
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                insert_node(&mut tx, &id, name, labels, now).await?;
                id
            }
        };
        sqlx::query("DELETE FROM tokens WHERE kind = 'node' AND node_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        insert_node_token(&mut tx, &token, name, &id, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// A fresh admin token named `name`; earlier admin tokens of that name
    /// stop working.
    pub async fn renew_admin_token(&self, name: &str, now: i64) -> Result<String, HubError> {
        let token = crate::tokens::new_token(TokenKind::Admin);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM tokens WHERE kind = 'admin' AND name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tokens (hash, kind, name, created_at) VALUES ($1, 'admin', $2, $3)",
        )
        .bind(hash_token(&token))
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Creates an admin token; it is returned once and stored only as a hash.
    pub async fn create_admin_token(&self, name: &str, now: i64) -> Result<String, HubError> {
        let token = crate::tokens::new_token(TokenKind::Admin);
        sqlx::query(
            "INSERT INTO tokens (hash, kind, name, created_at) VALUES ($1, 'admin', $2, $3)",
        )
        .bind(hash_token(&token))
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Finds who holds `token`, if anyone, and notes that it was used
    /// (written at most once a minute per token, so a busy agent costs no
    /// extra write per call).
    pub async fn caller(&self, token: &str, now: i64) -> Result<Option<Caller>, HubError> {
        let hash = hash_token(token);
        let row = sqlx::query(
            "SELECT k.kind, k.name, k.node_id, k.last_used, n.name AS node_name FROM tokens k \
             LEFT JOIN nodes n ON n.id = k.node_id WHERE k.hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last_used: Option<i64> = row.try_get("last_used")?;
        self.note_use(&hash, last_used, now).await?;
        let kind: String = row.try_get("kind")?;
        Ok(match kind.as_str() {
            "admin" => Some(Caller::Admin {
                name: row.try_get("name")?,
            }),
            "node" => {
                let id: Option<String> = row.try_get("node_id")?;
                let name: Option<String> = row.try_get("node_name")?;
                id.zip(name).map(|(id, name)| Caller::Node { id, name })
            }
            _ => None,
        })
    }
}

impl Db {
    /// Notes that the token stored as `hash` (last used at `last_used`) was
    /// used `now`, at most once a minute.
    pub(super) async fn note_use(
        &self,
        hash: &str,
        last_used: Option<i64>,
        now: i64,
    ) -> Result<(), HubError> {
        if last_used.is_none_or(|used| now - used >= LAST_USED_EVERY_MS) {
            sqlx::query(
                "UPDATE tokens SET last_used = $1 WHERE hash = $2 AND (last_used IS NULL OR last_used < $3)",
            )
            .bind(now)
            .bind(hash)
            .bind(now - LAST_USED_EVERY_MS)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}

/// How often a token's `last_used` is written at most.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// Adds the node row of `add_node` and `renew_node_token`.
pub(super) async fn insert_node(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    name: &str,
    labels: &[String],
    now: i64,
) -> Result<(), HubError> {
    sqlx::query("INSERT INTO nodes (id, name, labels, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(name)
        .bind(json(&labels))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Stores a node token's hash.
pub(super) async fn insert_node_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &str,
    name: &str,
    node_id: &str,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query(
        "INSERT INTO tokens (hash, kind, name, node_id, created_at) VALUES ($1, 'node', $2, $3, $4)",
    )
    .bind(hash_token(token))
    .bind(name)
    .bind(node_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

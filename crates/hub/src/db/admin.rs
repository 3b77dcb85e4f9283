//! Node and token administration: finding a node by name or id, renaming and
//! relabeling it, removing it, rotating its token, listing and revoking admin
//! tokens, and saying why a token that once worked is refused now.
//!
//! A token that stops working leaves its hash (never the token) in
//! `revoked_tokens` with the reason, so the hub can answer the agent that
//! still holds it with what happened and when, instead of a bare "unknown
//! token". Removing a node keeps the history readable: its tasks keep the
//! node's name in `tasks.node_name` once the node's row is gone.

use gantry_protocol::TaskState;
use gantry_protocol::admin::{NodeRemoved, TokenInfo};
use sqlx::Row;

use super::tasks::set_state;
use super::tokens::insert_node_token;
use super::{Db, json, parse_json};
use crate::HubError;
use crate::tokens::{TokenKind, hash_token};

/// Why a token that once worked is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedFor {
    /// Its node was removed.
    NodeRemoved,
    /// Its node's token was rotated.
    TokenReplaced,
    /// The admin token was revoked.
    TokenRevoked,
}

impl RevokedFor {
    fn as_str(self) -> &'static str {
        match self {
            RevokedFor::NodeRemoved => "node_removed",
            RevokedFor::TokenReplaced => "token_replaced",
            RevokedFor::TokenRevoked => "token_revoked",
        }
    }

    fn parse(text: &str) -> Option<RevokedFor> {
        Some(match text {
            "node_removed" => RevokedFor::NodeRemoved,
            "token_replaced" => RevokedFor::TokenReplaced,
            "token_revoked" => RevokedFor::TokenRevoked,
            _ => return None,
        })
    }
}

/// A token the hub once knew: why and when it stopped working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Why.
    pub reason: RevokedFor,
    /// The node's or the admin token's name at the time.
    pub name: String,
    /// When, in Unix milliseconds.
    pub at: i64,
}

/// The tasks a removed node held: canceled.
const HELD_STATES: &str = "'assigned', 'pulling', 'running', 'paused', 'lost'";

impl Db {
    /// The id of the node whose id or name is `key` (an id first).
    pub async fn find_node(&self, key: &str) -> Result<Option<String>, HubError> {
        let row = sqlx::query(
            "SELECT id FROM nodes WHERE id = $1 OR name = $1 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get("id").map_err(HubError::from))
            .transpose()
    }

    /// Every node's name, sorted, for messages that list them.
    pub async fn node_names(&self) -> Result<Vec<String>, HubError> {
        let rows = sqlx::query("SELECT name FROM nodes ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| row.try_get("name").map_err(HubError::from))
            .collect()
    }

    /// Renames a node; a name another node has is [`HubError::Exists`].
    pub async fn rename_node(&self, id: &str, name: &str) -> Result<(), HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let clash = sqlx::query("SELECT 1 FROM nodes WHERE name = $1 AND id <> $2")
            .bind(name)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if clash.is_some() {
            return Err(HubError::Exists(format!(
                "another node is named \"{name}\" already; pick another name, or rename that node first"
            )));
        }
        sqlx::query("UPDATE nodes SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds and removes labels given at the hub; the agent's own stay apart.
    pub async fn change_labels(
        &self,
        id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT labels FROM nodes WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(()) };
        let mut labels: Vec<String> = parse_json(&row.try_get::<String, _>("labels")?)?;
        labels.retain(|label| !remove.contains(label));
        for label in add {
            if !labels.contains(label) {
                labels.push(label.clone());
            }
        }
        sqlx::query("UPDATE nodes SET labels = $1 WHERE id = $2")
            .bind(json(&labels))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new token for the node; its earlier tokens are refused from now on,
    /// with the reason `token_replaced`.
    pub async fn rotate_node_token(&self, id: &str, now: i64) -> Result<String, HubError> {
        let token = crate::tokens::new_token(TokenKind::Node);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let name: String = sqlx::query("SELECT name FROM nodes WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("name")?;
        revoke(
            &mut tx,
            "kind = 'node' AND node_id = $1",
            id,
            Some(&name),
            RevokedFor::TokenReplaced,
            now,
        )
        .await?;
        insert_node_token(&mut tx, &token, &name, id, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Removes a node: its queued tasks meant for it fail, the tasks it holds
    /// are canceled, its tokens are refused with the reason `node_removed`,
    /// and its tasks keep its name in their history.
    pub async fn remove_node(&self, id: &str, now: i64) -> Result<Option<NodeRemoved>, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query("SELECT name FROM nodes WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let name: String = row.try_get("name")?;
        let mut removed = NodeRemoved {
            id: id.to_owned(),
            name: name.clone(),
            failed: Vec::new(),
            canceled: Vec::new(),
        };
        let queued =
            sqlx::query("SELECT id FROM tasks WHERE target_node = $1 AND state = 'queued'")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let reason = format!("its node {name} was removed from the hub");
        for row in queued {
            let task: String = row.try_get("id")?;
            set_state(&mut tx, &task, TaskState::Failed, Some(&reason), now).await?;
            removed.failed.push(task);
        }
        let held = sqlx::query(&format!(
            "SELECT id FROM tasks WHERE node_id = $1 AND state IN ({HELD_STATES})"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for row in held {
            let task: String = row.try_get("id")?;
            set_state(&mut tx, &task, TaskState::Canceled, Some(&reason), now).await?;
            removed.canceled.push(task);
        }
        sqlx::query("UPDATE tasks SET node_name = $1, node_id = NULL WHERE node_id = $2")
            .bind(&name)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        revoke(
            &mut tx,
            "kind = 'node' AND node_id = $1",
            id,
            Some(&name),
            RevokedFor::NodeRemoved,
            now,
        )
        .await?;
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(removed))
    }

    /// The admin tokens, by name then age; never the tokens themselves.
    pub async fn admin_tokens(&self) -> Result<Vec<TokenInfo>, HubError> {
        let rows = sqlx::query(
            "SELECT name, created_at, last_used FROM tokens WHERE kind = 'admin' ORDER BY name, created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TokenInfo {
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                    last_used: row.try_get("last_used")?,
                })
            })
            .collect()
    }

    /// Revokes every admin token named `name`; how many there were.
    pub async fn revoke_admin_tokens(&self, name: &str, now: i64) -> Result<u64, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let count = revoke(
            &mut tx,
            "kind = 'admin' AND name = $1",
            name,
            None,
            RevokedFor::TokenRevoked,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(count)
    }

    /// Why `token` stopped working, if the hub once knew it.
    pub async fn revocation(&self, token: &str) -> Result<Option<Revocation>, HubError> {
        self.revocation_by_hash(&hash_token(token)).await
    }

    /// Why the token stored as `hash` stopped working, if it did.
    pub(super) async fn revocation_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<Revocation>, HubError> {
        let row = sqlx::query("SELECT reason, name, at FROM revoked_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let reason: String = row.try_get("reason")?;
        let reason = RevokedFor::parse(&reason)
            .ok_or_else(|| HubError::Corrupt(format!("unknown revocation reason {reason:?}")))?;
        Ok(Some(Revocation {
            reason,
            name: row.try_get("name")?,
            at: row.try_get("at")?,
        }))
    }
}

/// Moves the tokens matching `condition` (with `$1` bound to `value`) into
/// `revoked_tokens` with `reason`, under `name` (a node's current name) or
/// their own; how many there were.
async fn revoke(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    condition: &str,
    value: &str,
    name: Option<&str>,
    reason: RevokedFor,
    now: i64,
) -> Result<u64, HubError> {
    let tokens = sqlx::query(&format!(
        "SELECT hash, kind, name FROM tokens WHERE {condition}"
    ))
    .bind(value)
    .fetch_all(&mut **tx)
    .await?;
    for token in &tokens {
        sqlx::query(
            "INSERT INTO revoked_tokens (hash, kind, name, reason, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token.try_get::<String, _>("hash")?)
        .bind(token.try_get::<String, _>("kind")?)
        .bind(match name {
            Some(name) => name.to_owned(),
            None => token.try_get::<String, _>("name")?,
        })
        .bind(reason.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(&format!("DELETE FROM tokens WHERE {condition}"))
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(tokens.len() as u64)
}

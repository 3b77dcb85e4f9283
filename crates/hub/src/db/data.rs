//! Data in and out: the blobs each task may read (`task_blobs`, written at
//! submit by [`Db::submit`]), the check a node token passes to read a blob,
//! and where a task's node is, for outputs kept on it.

use sqlx::Row;

use super::Db;
use crate::HubError;

/// The node that holds or held a task, as an output download needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNode {
    /// The node's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is online now.
    pub online: bool,
    /// When it was last heard from.
    pub last_seen: Option<i64>,
}

impl Db {
    /// Whether a task assigned to `node_id` references the blob `sha256`.
    pub async fn node_may_read_blob(&self, node_id: &str, sha256: &str) -> Result<bool, HubError> {
        let row = sqlx::query(
            "SELECT 1 AS found FROM task_blobs b JOIN tasks t ON t.id = b.task_id \
             WHERE b.sha256 = $1 AND t.node_id = $2 LIMIT 1",
        )
        .bind(sha256)
        .bind(node_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The node of a task, if it has one, with its online state by the hub's clock.
    pub async fn task_node(
        &self,
        task_id: &str,
        now: i64,
        offline_after_ms: i64,
    ) -> Result<Option<TaskNode>, HubError> {
        let row = sqlx::query(
            "SELECT n.id, n.name, n.online, n.last_seen FROM tasks t JOIN nodes n ON n.id = t.node_id \
             WHERE t.id = $1",
        )
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let last_seen: Option<i64> = row.try_get("last_seen")?;
            Ok(TaskNode {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                online: row.try_get::<i64, _>("online")? == 1
                    && last_seen.is_some_and(|seen| now - seen <= offline_after_ms),
                last_seen,
            })
        })
        .transpose()
    }
}

/// Records blobs a task's node may read, in the transaction of its submit
/// (or of a release that left a checkpoint); one already recorded stays.
pub(super) async fn add_task_blobs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    task_id: &str,
    blobs: &[String],
) -> Result<(), HubError> {
    let mut unique: Vec<&String> = blobs.iter().collect();
    unique.sort();
    unique.dedup();
    for sha256 in unique {
        sqlx::query(
            "INSERT INTO task_blobs (task_id, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(task_id)
        .bind(sha256)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

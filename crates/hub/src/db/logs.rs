//! Logs: a task's output, kept as chunks appended at byte offsets.
//!
//! An append names the offset of its first byte, so a resent append is a
//! no-op and a lost one shows as a gap the sender can fill; a read returns any
//! byte range, so a follower can resume where it stopped.

use sqlx::Row;

use super::Db;
use crate::HubError;

/// What became of a log append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// The bytes (or the new part of them) were stored; the log is this long now.
    Stored(u64),
    /// The append started past the end of the log; it is this long.
    Gap(u64),
}

impl Db {
    /// Appends `data` at byte `offset` of the task's log.
    ///
    /// Bytes the hub already holds are skipped, so a repeated append is a
    /// no-op; an append that starts past the end is refused with the length
    /// the hub holds, so the sender can resend from there. The stored chunk
    /// keeps `now` as when it was received (see `log_times.rs`).
    pub async fn append_log(
        &self,
        id: &str,
        offset: u64,
        data: &[u8],
        now: i64,
    ) -> Result<Append, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT log_size FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let committed = row.try_get::<i64, _>("log_size")? as u64;
        if offset > committed {
            return Ok(Append::Gap(committed));
        }
        let end = offset + data.len() as u64;
        if end <= committed {
            return Ok(Append::Stored(committed));
        }
        let fresh = &data[(committed - offset) as usize..];
        sqlx::query(
            "INSERT INTO log_chunks (task_id, start, size, data, received_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(committed as i64)
        .bind(fresh.len() as i64)
        .bind(fresh.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE tasks SET log_size = $1, updated_at = $2 WHERE id = $3")
            .bind(end as i64)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Append::Stored(end))
    }

    /// Up to `max` bytes of the task's log from byte `offset`, and the log's length.
    pub async fn read_log(
        &self,
        id: &str,
        offset: u64,
        max: u64,
    ) -> Result<(Vec<u8>, u64), HubError> {
        let size_row = sqlx::query("SELECT log_size FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let size = size_row.try_get::<i64, _>("log_size")? as u64;
        let end = size.min(offset.saturating_add(max));
        if offset >= end {
            return Ok((Vec::new(), size));
        }
        let rows = sqlx::query(
            "SELECT start, data FROM log_chunks WHERE task_id = $1 AND start < $2 AND start + size > $3 ORDER BY start",
        )
        .bind(id)
        .bind(end as i64)
        .bind(offset as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity((end - offset) as usize);
        for row in rows {
            let start = row.try_get::<i64, _>("start")? as u64;
            let data: Vec<u8> = row.try_get("data")?;
            let from = offset.saturating_sub(start) as usize;
            let to = ((end - start) as usize).min(data.len());
            if from < to {
                out.extend_from_slice(&data[from..to]);
            }
        }
        Ok((out, size))
    }
}

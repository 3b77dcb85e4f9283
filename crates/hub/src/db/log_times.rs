//! When each log chunk arrived: the marks a viewer puts beside its lines.
//!
//! A chunk is one stored append (see `logs.rs`), so its first byte offset
//! and `received_at` say when every byte in it reached the hub. Chunks
//! stored before the hub kept times have NULL there and give no mark.

use gantry_protocol::log_times::{LogMark, LogTimes, MAX_LOG_MARKS};
use sqlx::Row;

use super::Db;
use crate::HubError;

impl Db {
    /// The marks of the chunks holding bytes `offset..offset + length`
    /// (to the end when `length` is `None`), in order, at most
    /// [`MAX_LOG_MARKS`] of them, with the offset to continue from when more
    /// are left. The first chunk may begin before `offset`.
    pub async fn log_times(
        &self,
        id: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<LogTimes, HubError> {
        // Offsets are BIGINT in the database; nothing lies past i64::MAX.
        let clamp = |n: u64| n.min(i64::MAX as u64) as i64;
        let end = length.map_or(i64::MAX, |length| clamp(offset.saturating_add(length)));
        let offset = clamp(offset);
        if offset >= end {
            return Ok(LogTimes {
                marks: Vec::new(),
                next: None,
            });
        }
        // The chunk holding `offset` begins at the greatest start at or
        // before it; from there the primary key (task_id, start) serves the
        // range. Past the log's end that chunk holds no asked byte: none.
        let rows = sqlx::query(
            "SELECT start, received_at FROM log_chunks \
             WHERE task_id = $1 AND received_at IS NOT NULL AND start < $2 AND start + size > $3 \
             AND start >= COALESCE((SELECT MAX(start) FROM log_chunks WHERE task_id = $1 AND start <= $3), 0) \
             ORDER BY start LIMIT $4",
        )
        .bind(id)
        .bind(end)
        .bind(offset)
        .bind(MAX_LOG_MARKS as i64 + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut marks = Vec::with_capacity(rows.len().min(MAX_LOG_MARKS));
        for row in rows {
            marks.push(LogMark {
                offset: row.try_get::<i64, _>("start")? as u64,
                at: row.try_get::<i64, _>("received_at")?,
            });
        }
        let next = if marks.len() > MAX_LOG_MARKS {
            marks.pop().map(|mark| mark.offset)
        } else {
            None
        };
        Ok(LogTimes { marks, next })
    }
}

//! The gauges `GET /metrics` reads at each scrape ([`crate::metrics`]):
//! three queries, each answered from an index.
//!
//! - tasks by state and the log bytes they hold: one pass over
//!   `tasks_by_state_log (state, log_size)`, which covers the query, so the
//!   table's rows (with their specs) are never read;
//! - queued tasks by the labels they require: `tasks_by_state_labels
//!   (state, labels)` covers it and yields the queued ones already grouped;
//! - nodes by state: the nodes table, which is small.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Db, parse_json};
use crate::HubError;

/// How things stand, as the database says at one scrape.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Tasks by state name.
    pub tasks: BTreeMap<String, u64>,
    /// Bytes of log the hub holds, over every task.
    pub log_bytes: u64,
    /// Queued tasks by the labels they require: sorted, comma-separated
    /// (empty for a task any node may take).
    pub queued: BTreeMap<String, u64>,
    /// Nodes by state: `offline`, else `draining`, else `yielding`, else `online`.
    pub nodes: BTreeMap<&'static str, u64>,
}

impl Db {
    /// The gauges of one scrape.
    pub async fn gauges(&self) -> Result<Gauges, HubError> {
        let mut gauges = Gauges::default();
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, CAST(COALESCE(SUM(log_size), 0) AS BIGINT) AS bytes \
             FROM tasks GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let count: i64 = row.try_get("n")?;
            let bytes: i64 = row.try_get("bytes")?;
            gauges
                .tasks
                .insert(row.try_get("state")?, count.max(0) as u64);
            gauges.log_bytes += bytes.max(0) as u64;
        }

        let rows = sqlx::query(
            "SELECT labels, COUNT(*) AS n FROM tasks WHERE state = 'queued' GROUP BY labels",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let mut labels: Vec<String> = parse_json(&row.try_get::<String, _>("labels")?)?;
            labels.sort();
            labels.dedup();
            let count: i64 = row.try_get("n")?;
            // Lists stored in another order are the same requirement.
            *gauges.queued.entry(labels.join(",")).or_default() += count.max(0) as u64;
        }

        let rows = sqlx::query(
            "SELECT CASE WHEN online = 0 THEN 'offline' WHEN draining <> 0 THEN 'draining' \
             WHEN yielding IS NOT NULL THEN 'yielding' ELSE 'online' END AS state, COUNT(*) AS n \
             FROM nodes GROUP BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let state = match row.try_get::<String, _>("state")?.as_str() {
                "offline" => "offline",
                "draining" => "draining",
                "yielding" => "yielding",
                _ => "online",
            };
            let count: i64 = row.try_get("n")?;
            *gauges.nodes.entry(state).or_default() += count.max(0) as u64;
        }
        Ok(gauges)
    }
}

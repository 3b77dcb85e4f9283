//! Usage accounting: each task's usage as its node's final report carried it
//! ([`gantry_protocol::usage::TaskUsage`]), one row per task in `task_usage`
//! with the node and when the report came, and a node's totals by day
//! (UTC) added up here from those rows, the same way on both databases.

use gantry_protocol::usage::{NodeUsage, TaskUsage, UsageDay, UsageTotals, utc_day};
use gantry_protocol::wire::Millis;
use sqlx::Row;

use super::Db;
use crate::error::HubError;

/// Keeps a task's usage; a report said again changes nothing.
pub(super) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    task_id: &str,
    node_id: &str,
    usage: &TaskUsage,
    now: Millis,
) -> Result<(), HubError> {
    sqlx::query(
        "INSERT INTO task_usage (task_id, node_id, ended_at, usage) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (task_id) DO NOTHING",
    )
    .bind(task_id)
    .bind(node_id)
    .bind(now)
    .bind(super::json(usage))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// A task's usage, once its node reported it.
    pub async fn task_usage(&self, task_id: &str) -> Result<Option<TaskUsage>, HubError> {
        let row = sqlx::query("SELECT usage FROM task_usage WHERE task_id = $1")
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| super::parse_json(&row.try_get::<String, _>("usage")?))
            .transpose()
    }

    /// What the tasks that ended on `node_id` at or after `since` used, in
    /// all and by day.
    pub async fn node_usage(&self, node_id: &str, since: Millis) -> Result<NodeUsage, HubError> {
        let rows = sqlx::query(
            "SELECT ended_at, usage FROM task_usage WHERE node_id = $1 AND ended_at >= $2 \
             ORDER BY ended_at",
        )
        .bind(node_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let mut totals = UsageTotals::default();
        let mut days: Vec<UsageDay> = Vec::new();
        for row in rows {
            let usage: TaskUsage = super::parse_json(&row.try_get::<String, _>("usage")?)?;
            let day = utc_day(row.try_get::<i64, _>("ended_at")?);
            totals.add(&usage);
            match days.last_mut() {
                Some(last) if last.day == day => last.totals.add(&usage),
                _ => {
                    let mut first = UsageTotals::default();
                    first.add(&usage);
                    days.push(UsageDay { day, totals: first });
                }
            }
        }
        Ok(NodeUsage {
            node: node_id.to_owned(),
            since,
            totals,
            days,
        })
    }
}

//! Usage accounting: what each run of a task used on its node, as the
//! node's report at the run's end carried it
//! ([`gantry_protocol::usage::TaskUsage`]): one row per run in `task_usage`,
//! numbered from 1, with the node, when the report came and whether the node
//! gave the task back to the queue (`Released`) rather than ending it. A
//! task shows what all its runs used; a node's totals by day (UTC) are added
//! up here from its rows, released runs included, the same way on both
//! databases.

use gantry_protocol::usage::{NodeUsage, TaskUsage, UsageDay, UsageTotals, utc_day};
use gantry_protocol::wire::Millis;
use sqlx::Row;

use super::Db;
use crate::error::HubError;

/// How a run ended on its node, for its usage row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunEnd {
    /// The task ended there (finished, failed or canceled).
    Ended,
    /// The node gave the task back to the queue.
    Released,
}

/// Keeps what a run used, as the task's next run; called only in the
/// transaction that moves the task out of that node's hands, so a report
/// said again (which moves nothing) adds nothing.
pub(super) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    task_id: &str,
    node_id: &str,
    usage: &TaskUsage,
    end: RunEnd,
    now: Millis,
) -> Result<(), HubError> {
    sqlx::query(
        "INSERT INTO task_usage (task_id, run, node_id, ended_at, released, usage) \
         SELECT $1, COALESCE(MAX(run), 0) + 1, $2, $3, $4, $5 FROM task_usage WHERE task_id = $1",
    )
    .bind(task_id)
    .bind(node_id)
    .bind(now)
    .bind(i64::from(end == RunEnd::Released))
    .bind(super::json(usage))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// What a task used over all its runs, once a node reported one.
    pub async fn task_usage(&self, task_id: &str) -> Result<Option<TaskUsage>, HubError> {
        let rows = sqlx::query("SELECT usage FROM task_usage WHERE task_id = $1 ORDER BY run")
            .bind(task_id)
            .fetch_all(&self.pool)
            .await?;
        let mut all: Option<TaskUsage> = None;
        for row in rows {
            let run: TaskUsage = super::parse_json(&row.try_get::<String, _>("usage")?)?;
            match &mut all {
                Some(all) => all.add_run(&run),
                None => all = Some(run),
            }
        }
        Ok(all)
    }

    /// Whether `node_id` gave task `id` back to the queue at least once (a
    /// run of it ended `Released` there, with its usage, as every agent that
    /// releases reports it). Such a node may read the task, though it no
    /// longer holds it: the checkpoint it keeps of it is worth keeping only
    /// until the task ends, wherever it runs.
    pub async fn gave_back(&self, id: &str, node_id: &str) -> Result<bool, HubError> {
        let row = sqlx::query(
            "SELECT run FROM task_usage WHERE task_id = $1 AND node_id = $2 AND released = 1 LIMIT 1",
        )
        .bind(id)
        .bind(node_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// What the runs that ended on `node_id` at or after `since` used, in
    /// all and by day: tasks that ended there, and runs it gave back.
    pub async fn node_usage(&self, node_id: &str, since: Millis) -> Result<NodeUsage, HubError> {
        let rows = sqlx::query(
            "SELECT ended_at, released, usage FROM task_usage WHERE node_id = $1 AND ended_at >= $2 \
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
            let released = row.try_get::<i64, _>("released")? != 0;
            let add = |totals: &mut UsageTotals| {
                if released {
                    totals.add_released(&usage)
                } else {
                    totals.add(&usage)
                }
            };
            let day = utc_day(row.try_get::<i64, _>("ended_at")?);
            add(&mut totals);
            match days.last_mut() {
                Some(last) if last.day == day => add(&mut last.totals),
                _ => {
                    let mut first = UsageTotals::default();
                    add(&mut first);
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

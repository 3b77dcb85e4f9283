//! A task's GPU use as its node reports it with heartbeats
//! ([`gantry_protocol::wire::Heartbeat::gpu_use`]): the latest figures
//! replace the ones before, on tasks this node holds or held (a task's
//! final figures arrive just after it ended). Kept as JSON in
//! `tasks.gpu_use`, without the series (a chart's points stay with the
//! node), and answered in `Task.gpu_use`.

use std::collections::BTreeMap;

use gantry_protocol::wire::TaskGpuUse;

use crate::error::HubError;

/// Stores each report on its task, where `node_id` is the task's node.
pub(super) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    node_id: &str,
    reports: &BTreeMap<String, TaskGpuUse>,
) -> Result<(), HubError> {
    for (task_id, used) in reports {
        let kept = TaskGpuUse {
            series: Vec::new(),
            ..used.clone()
        };
        sqlx::query("UPDATE tasks SET gpu_use = $1 WHERE id = $2 AND node_id = $3")
            .bind(super::json(&kept))
            .bind(task_id)
            .bind(node_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

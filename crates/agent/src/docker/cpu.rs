//! The CPU time of a task's containers, for usage accounting: each running
//! container's cgroup total (`cpu.stat` usage, as the engine's stats answer
//! it), read while it runs, since a container's cgroup goes with its end.

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use futures::StreamExt;

use super::{Engine, LABEL_TASK};

impl Engine {
    /// Each running container of `task_id` with the CPU seconds (user and
    /// system) its cgroup counted so far; empty when none runs or the engine
    /// does not answer.
    pub async fn task_cpu_seconds(&self, task_id: &str) -> Vec<(String, f64)> {
        let filters = HashMap::from([
            ("label", vec![format!("{LABEL_TASK}={task_id}")]),
            ("status", vec!["running".to_owned(), "paused".to_owned()]),
        ]);
        let options = ListContainersOptionsBuilder::new()
            .filters(&filters)
            .build();
        let Ok(Ok(listed)) = tokio::time::timeout(
            self.call_timeout,
            self.docker.list_containers(Some(options)),
        )
        .await
        else {
            return Vec::new();
        };
        let reads = listed
            .into_iter()
            .filter_map(|summary| summary.id)
            .map(|id| async move {
                // One reading, without waiting for a second one to compare.
                let options = StatsOptionsBuilder::new()
                    .stream(false)
                    .one_shot(true)
                    .build();
                let mut stream = self.docker.stats(&id, Some(options));
                let Ok(Some(Ok(stats))) =
                    tokio::time::timeout(self.call_timeout, stream.next()).await
                else {
                    return None;
                };
                let nanos = stats.cpu_stats?.cpu_usage?.total_usage?;
                Some((id, nanos as f64 / 1e9))
            });
        futures::future::join_all(reads)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

//! What this agent's containers use, for the app's Containers screen and
//! Task detail: each container with its state, CPU and memory (read as
//! `docker stats` shows them), and the host's process ids of one, to match
//! GPU processes to it.

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use futures::StreamExt;

use super::{Engine, LABEL_AGENT, LABEL_ROLE, LABEL_TASK};
use crate::executor::ExecError;

/// A container the agent made, with what it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUse {
    /// Docker's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The task it runs for.
    pub task_id: Option<String>,
    /// `main`, `epilogue` or `service`.
    pub role: String,
    /// Its image.
    pub image: String,
    /// Docker's state: `running`, `paused`, `exited`, …
    pub state: String,
    /// Docker's words, e.g. "Up 5 minutes".
    pub status: String,
    /// When it was made (seconds since the epoch).
    pub created_s: i64,
    /// CPU use in percent of one core, while it runs.
    pub cpu_percent: Option<f64>,
    /// Memory in use (less the page cache that can be dropped).
    pub memory_bytes: Option<u64>,
    /// Its memory limit (the machine's memory when it has none).
    pub memory_limit_bytes: Option<u64>,
}

impl Engine {
    /// Every container this agent made (all states), with the resource use
    /// of those running: for the app's Containers screen and Task detail.
    /// Stats of running containers are read at once, each over about a
    /// second (Docker measures CPU between two readings).
    /// With `task`, only that task's containers (and only theirs are asked
    /// for stats).
    pub async fn containers(&self, task: Option<&str>) -> Result<Vec<ContainerUse>, ExecError> {
        let mut labels = vec![match &self.agent {
            Some(agent) => format!("{LABEL_AGENT}={agent}"),
            None => LABEL_TASK.to_owned(),
        }];
        if let Some(task) = task {
            labels.push(format!("{LABEL_TASK}={task}"));
        }
        let filters = HashMap::from([("label", labels)]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .call(
                "list the node's containers",
                self.docker.list_containers(Some(options)),
            )
            .await?;
        let uses = listed.into_iter().map(|summary| async move {
            let labels = summary.labels.unwrap_or_default();
            let id = summary.id.unwrap_or_default();
            let state = summary.state.map(|s| s.to_string()).unwrap_or_default();
            let mut found = ContainerUse {
                name: summary
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                task_id: labels.get(LABEL_TASK).cloned(),
                role: labels.get(LABEL_ROLE).cloned().unwrap_or_default(),
                image: summary.image.unwrap_or_default(),
                status: summary.status.unwrap_or_default(),
                created_s: summary.created.unwrap_or(0),
                cpu_percent: None,
                memory_bytes: None,
                memory_limit_bytes: None,
                state,
                id,
            };
            if found.state == "running" || found.state == "paused" {
                self.read_stats(&mut found).await;
            }
            found
        });
        Ok(futures::future::join_all(uses).await)
    }

    async fn read_stats(&self, found: &mut ContainerUse) {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(false)
            .build();
        let mut stream = self.docker.stats(&found.id, Some(options));
        let Ok(Some(Ok(stats))) = tokio::time::timeout(self.call_timeout, stream.next()).await
        else {
            return;
        };
        if let (Some(now), Some(before)) = (&stats.cpu_stats, &stats.precpu_stats) {
            let used = |c: &bollard::models::ContainerCpuStats| {
                c.cpu_usage
                    .as_ref()
                    .and_then(|u| u.total_usage)
                    .unwrap_or(0)
            };
            let container = used(now).saturating_sub(used(before)) as f64;
            let system =
                now.system_cpu_usage
                    .unwrap_or(0)
                    .saturating_sub(before.system_cpu_usage.unwrap_or(0)) as f64;
            let cpus = now.online_cpus.unwrap_or(1).max(1) as f64;
            if system > 0.0 {
                // As `docker stats` shows it: percent of one core.
                found.cpu_percent = Some(container / system * cpus * 100.0);
            }
        }
        if let Some(memory) = &stats.memory_stats {
            // Like `docker stats`: the page cache that can be dropped is not use.
            let inactive = memory
                .stats
                .as_ref()
                .and_then(|s| s.get("inactive_file").or(s.get("total_inactive_file")))
                .copied()
                .unwrap_or(0);
            found.memory_bytes = memory.usage.map(|u| u.saturating_sub(inactive));
            found.memory_limit_bytes = memory.limit;
        }
    }

    /// The host's process ids of a running container's processes.
    pub async fn host_pids(&self, id: &str) -> Vec<u32> {
        let Ok(Ok(top)) =
            tokio::time::timeout(self.call_timeout, self.docker.top_processes(id, None)).await
        else {
            return Vec::new();
        };
        let Some(column) = top
            .titles
            .unwrap_or_default()
            .iter()
            .position(|t| t == "PID")
        else {
            return Vec::new();
        };
        top.processes
            .unwrap_or_default()
            .iter()
            .filter_map(|row| row.get(column)?.parse().ok())
            .collect()
    }
}

//! The Containers screen's answer: every container of this computer's
//! agent, with the task it runs for and what it uses, asked of Docker
//! through the agent's engine (so only the agent's own are listed).

use std::collections::HashMap;

use gantry_agent::docker::ContainerUse;

use super::Desktop;
use crate::view::{ContainerView, UiError};

impl Desktop {
    /// Every container of this node's agent, with its use.
    pub async fn containers(&self) -> Result<Vec<ContainerView>, UiError> {
        let engine = self
            .agent()?
            .engine()
            .map_err(|why| UiError::new("docker", why))?;
        let found = engine
            .containers(None)
            .await
            .map_err(|e| UiError::new("docker", e.to_string()))?;
        let names = self.task_names();
        let mut views: Vec<ContainerView> = found
            .into_iter()
            .map(|c| container_view(c, &names))
            .collect();
        // Running first, then the newest.
        views.sort_by(|a, b| {
            (a.state != "running", -a.created_ms).cmp(&(b.state != "running", -b.created_ms))
        });
        Ok(views)
    }

    /// The name of each task the status lists, by id.
    fn task_names(&self) -> HashMap<String, String> {
        let status = self.status.borrow();
        status
            .tasks
            .iter()
            .chain(status.recent.iter())
            .map(|t| (t.id.clone(), t.name.clone()))
            .collect()
    }
}

fn container_view(c: ContainerUse, names: &HashMap<String, String>) -> ContainerView {
    ContainerView {
        id: c.id.chars().take(12).collect(),
        task_name: c.task_id.as_ref().and_then(|t| names.get(t).cloned()),
        name: c.name,
        task_id: c.task_id,
        role: c.role,
        image: c.image,
        state: c.state,
        status: c.status,
        created_ms: c.created_s.saturating_mul(1000),
        cpu_percent: c.cpu_percent,
        memory_bytes: c.memory_bytes,
        memory_limit_bytes: c.memory_limit_bytes,
    }
}

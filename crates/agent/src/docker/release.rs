//! A task's main container stopped for a release: the node yields to its
//! person and hands the task back to the hub's queue, so the container gets
//! SIGTERM, the person's grace period to write its checkpoint, then SIGKILL
//! (`docker stop` with that timeout). Its watcher sees it end as usual.

use std::time::Duration;

use super::Engine;

impl Engine {
    /// Stops the task's main container within `grace` (thawed first if
    /// frozen); `false` when it has none.
    pub async fn release_main(&self, task_id: &str, grace: Duration) -> bool {
        match self.find(task_id, "main").await {
            Ok(Some(found)) => {
                self.stop(&found.id, grace).await;
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(%error, task = task_id, "cannot find the task's container to release it");
                false
            }
        }
    }
}

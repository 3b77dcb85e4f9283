//! The node's metrics page (`--metrics-listen ADDR`): [`crate::metrics`]'s
//! counters with the node's state at the moment of each scrape.

use std::sync::Arc;

use gantry_protocol::admin::NodeState;
use tokio::net::TcpListener;

use super::{Agent, AgentError};
use crate::metrics::Snapshot;

impl Agent {
    /// The page's listener, when `--metrics-listen` asks for one; bound
    /// before the agent registers, so a taken port stops it at once.
    pub(super) async fn bind_metrics(&self) -> Result<Option<TcpListener>, AgentError> {
        match self.inner.ctx.config.metrics_listen {
            Some(address) => crate::metrics::bind(address)
                .await
                .map(Some)
                .map_err(AgentError::Config),
            None => Ok(None),
        }
    }

    /// Serves the page on `listener` until the agent stops.
    pub(super) async fn serve_metrics(&self, listener: TcpListener) {
        let agent = self.clone();
        let page = Arc::new(move || agent.metrics_page());
        crate::metrics::serve(listener, page, self.inner.ctx.stop.clone()).await;
    }

    /// Every metric, as one scrape reads them now.
    pub fn metrics_page(&self) -> String {
        let status = self.status();
        let snapshot = Snapshot {
            held: status.tasks.iter().map(|task| task.state).collect(),
            connected: status.connected,
            yielding: status.state == NodeState::Yielding || status.yielding.is_some(),
            yielding_gpu_only: status.yielding.as_ref().is_some_and(|y| y.gpu_only),
        };
        self.inner.ctx.metrics.page(&snapshot)
    }
}

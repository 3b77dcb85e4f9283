//! Local mode's hub: a Gantry hub embedded in the app, serving on loopback
//! with its records in the host dir, so a person can use Gantry with no
//! server at all.
//!
//! At each start the node gets a fresh token that lives only in memory, and
//! an admin token is written (0600) with the hub's address to
//! `local-hub.json` in the host dir, where `gantry task …` finds it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use gantry_agent::host::{HostDir, LocalHub};
use gantry_client::Token;
use gantry_hub::{Hub, HubConfig, SystemClock};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The name of the admin token the app renews at each start.
const ADMIN_TOKEN_NAME: &str = "desktop-local";

/// A hub serving inside the app.
#[derive(Debug)]
pub struct EmbeddedHub {
    /// Its address on loopback.
    pub server: String,
    /// The node's token, for the agent in the same app.
    pub node_token: Token,
    /// An admin token, for the app's New task form and Task detail.
    pub admin_token: Token,
    stop: CancellationToken,
    /// Cancelled once the hub has stopped serving and removed its address file.
    pub stopped: CancellationToken,
}

impl EmbeddedHub {
    /// Opens the hub's records in `<host_dir>/hub`, serves on a free loopback
    /// port until `stop` is cancelled (tracked by `tracker`), and writes the
    /// address file.
    pub async fn start(
        host_dir: &Path,
        node: &str,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) -> anyhow::Result<EmbeddedHub> {
        let data_dir = HostDir::hub_dir(host_dir);
        let hub = Hub::open(&data_dir, None, HubConfig::default(), Arc::new(SystemClock))
            .await
            .with_context(|| {
                format!(
                    "cannot open the local hub's records in {}",
                    data_dir.display()
                )
            })?;
        let now = hub.now();
        let node_token = hub
            .db()
            .renew_node_token(node, &[], now)
            .await
            .context("cannot make a token for this computer in the local hub")?;
        let admin_token = hub
            .db()
            .renew_admin_token(ADMIN_TOKEN_NAME, now)
            .await
            .context("cannot make an admin token in the local hub")?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on 127.0.0.1 for the local hub")?;
        let server = format!("http://{}", listener.local_addr()?);
        LocalHub {
            server: server.clone(),
            admin_token: admin_token.clone(),
        }
        .write(host_dir)
        .with_context(|| format!("cannot write {}", LocalHub::path(host_dir).display()))?;
        let serve_stop = stop.clone();
        let file_dir = host_dir.to_path_buf();
        let stopped = CancellationToken::new();
        let done = stopped.clone();
        tracker.spawn(async move {
            if let Err(error) = gantry_hub::serve(listener, hub, serve_stop.cancelled_owned()).await
            {
                tracing::error!(%error, "the local hub stopped");
            }
            LocalHub::remove(&file_dir);
            done.cancel();
        });
        tracing::info!(%server, "local hub listening");
        Ok(EmbeddedHub {
            server,
            node_token: Token::new(node_token),
            admin_token: Token::new(admin_token),
            stop,
            stopped,
        })
    }

    /// Stops serving; the address file goes when the server has stopped.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

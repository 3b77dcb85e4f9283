//! The Gantry hub: the control plane that hands tasks to agents, keeps their
//! logs and results, and lets people submit and steer tasks.
//!
//! # Layout
//!
//! - [`Hub`]: the shared state (database, blob folder, signals, the last hour
//!   of node figures, clock, settings).
//! - [`app`]: the axum [`Router`] built from [`api::endpoints`], the one table
//!   of routes, which also yields the OpenAPI document ([`openapi`]).
//! - [`api`]: the table, the router, and the handlers by caller (people,
//!   agents, blobs), with the extractors for tokens and bodies. The web
//!   console's files are compressed into the binary by `build.rs` (from
//!   `ui/dist-console`) and served at `/` and `/assets/` by `api/console.rs`;
//!   `api/session.rs` signs browsers in with a session cookie.
//! - [`serve`]: runs the router on a listener the caller owns, with the
//!   background check for silent nodes, until the shutdown future resolves.
//! - [`tls`]: the same over HTTPS ([`tls::serve_tls`]), with a certificate
//!   reloaded on SIGHUP or when its files change.
//! - [`db`]: every SQL statement, for SQLite and PostgreSQL alike, one file
//!   per concern (tokens, nodes, tasks, logs).
//!
//! Architecture invariant: the hub knows nothing about the agent crate. They
//! share only `gantry-protocol`. No other crate's library code uses axum or
//! sqlx (the fuzz target and the desktop app's tests use axum only to drive
//! or stand in for a server).
//!
//! Architecture invariant: [`openapi`] reads [`api`]'s table, and [`api`]
//! never imports [`openapi`]; [`Hub`] joins the two, keeping the document.

#![deny(missing_docs)]

pub mod api;
pub mod blobs;
pub mod db;
mod error;
pub mod metrics;
pub mod openapi;
mod relay;
mod samples;
mod signals;
pub mod tls;
pub mod tokens;
mod waiting;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::{ApiError, HubError};

use crate::blobs::Blobs;
use crate::db::Db;
use crate::signals::Signals;

/// A source of the current time, injected so tests can move it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The computer's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told, for tests of timeouts.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now_ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The hub's settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How often agents are asked to send a heartbeat.
    pub heartbeat: Duration,
    /// A node silent for this long is offline and its running tasks are `lost`.
    pub offline_after: Duration,
    /// An assignment not accepted within this time goes back to the queue.
    pub accept_within: Duration,
    /// The longest `next` long-poll the hub holds.
    pub max_wait: Duration,
    /// How often the hub looks for silent nodes.
    pub check_every: Duration,
    /// The largest log append, in bytes.
    pub max_log_append_bytes: u64,
    /// The largest JSON or YAML body, in bytes (jobs may carry inline files).
    pub max_json_bytes: usize,
    /// The largest blob, in bytes.
    pub max_blob_bytes: u64,
    /// How long a download of an output kept on a node waits for the node to begin sending it.
    pub fetch_begin_within: Duration,
    /// How long a web console session lasts after signing in (`--session-hours`).
    pub session_for: Duration,
    /// The token `GET /metrics` asks for (`--metrics-token`); `None`: anyone may scrape.
    pub metrics_token: Option<metrics::MetricsToken>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            heartbeat: Duration::from_secs(10),
            offline_after: Duration::from_secs(90),
            accept_within: Duration::from_secs(120),
            max_wait: Duration::from_secs(60),
            check_every: Duration::from_secs(2),
            max_log_append_bytes: 4 << 20,
            max_json_bytes: 4 << 20,
            max_blob_bytes: 64 << 30,
            fetch_begin_within: Duration::from_secs(30),
            session_for: Duration::from_secs(12 * 3600),
            metrics_token: None,
        }
    }
}

/// The hub's shared state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    db: Db,
    blobs: Blobs,
    config: HubConfig,
    clock: Arc<dyn Clock>,
    signals: Signals,
    /// The last hour of each node's heartbeat figures.
    samples: samples::Samples,
    /// Downloads of node-kept outputs waiting for their nodes.
    relay: relay::Relay,
    /// Cancelled when the hub shuts down, so long-polls and log streams end.
    stopping: CancellationToken,
    openapi: std::sync::OnceLock<serde_json::Value>,
    /// The counters `GET /metrics` reports.
    metrics: metrics::Metrics,
}

/// The database URL for a data dir: an SQLite file inside it.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("hub.db").display())
}

impl Hub {
    /// Opens the hub's database (`db_url`, or SQLite in `data_dir`) and blob folder.
    pub async fn open(
        data_dir: &Path,
        db_url: Option<&str>,
        config: HubConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Hub, HubError> {
        create_private_dir(data_dir).map_err(|source| HubError::Io {
            what: format!("create the data dir {}", data_dir.display()),
            source,
        })?;
        let url = db_url
            .map(str::to_owned)
            .unwrap_or_else(|| sqlite_url(data_dir));
        let db = Db::connect(&url).await?;
        let blobs = Blobs::open(&data_dir.join("blobs"))?;
        Ok(Hub {
            inner: Arc::new(HubInner {
                db,
                blobs,
                config,
                clock,
                signals: Signals::default(),
                samples: samples::Samples::default(),
                relay: relay::Relay::default(),
                stopping: CancellationToken::new(),
                openapi: std::sync::OnceLock::new(),
                metrics: metrics::Metrics::default(),
            }),
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The settings.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// The time now, by the hub's clock.
    pub fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }

    fn signals(&self) -> &Signals {
        &self.inner.signals
    }

    fn samples(&self) -> &samples::Samples {
        &self.inner.samples
    }

    fn relay(&self) -> &relay::Relay {
        &self.inner.relay
    }

    fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    /// The OpenAPI document of [`api::endpoints`], built on first use and kept.
    /// Built here, where both are known, so that [`api`] need not import
    /// [`openapi`], which reads the api's table.
    pub(crate) fn openapi_document(&self) -> serde_json::Value {
        self.inner
            .openapi
            .get_or_init(|| openapi::document(&api::endpoints(self)))
            .clone()
    }

    /// Marks silent nodes offline and their tasks lost, and requeues stale
    /// assignments; [`serve`] runs this every [`HubConfig::check_every`].
    pub async fn check_nodes(&self) -> Result<(), HubError> {
        let config = self.config();
        let checked = self
            .db()
            .check_nodes(
                self.now(),
                config.offline_after.as_millis() as i64,
                config.accept_within.as_millis() as i64,
            )
            .await?;
        for id in &checked.tasks {
            self.signals().task_changed(id);
        }
        if checked.requeued {
            self.signals().wake_all_pollers();
        }
        if checked.went_offline > 0 {
            self.signals().nodes_changed();
        }
        Ok(())
    }
}

/// Whether this hub was built with its web console (`ui/dist-console`).
pub fn has_console() -> bool {
    api::has_console()
}

/// The hub's router.
pub fn app(hub: Hub) -> Router {
    api::router(hub)
}

/// Serves the hub on `listener` until `shutdown` resolves, then waits for
/// open requests (long-polls and log streams end at once) and the background
/// check to finish. [`tls::serve_tls`] does the same over HTTPS.
pub async fn serve(
    listener: TcpListener,
    hub: Hub,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(hub, shutdown, |app, stopping, _| async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stopping.cancelled_owned())
            .await
    })
    .await
}

/// What HTTP and HTTPS serving share: the background check for silent
/// nodes, the hub's `stopping` token cancelled when `shutdown` resolves (or
/// the server ends), and the wait for every tracked task before the
/// database closes. `server` serves `app` until `stopping` is cancelled,
/// spawning its own tasks on the tracker.
async fn serve_with<F, Fut>(
    hub: Hub,
    shutdown: impl Future<Output = ()> + Send + 'static,
    server: F,
) -> std::io::Result<()>
where
    F: FnOnce(Router, CancellationToken, &TaskTracker) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let tracker = TaskTracker::new();
    let stopping = hub.stopping().clone();
    let checker = hub.clone();
    let check_stop = stopping.clone();
    tracker.spawn(async move {
        let mut every = tokio::time::interval(checker.config().check_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = check_stop.cancelled() => break,
                _ = every.tick() => {
                    if let Err(error) = checker.check_nodes().await {
                        tracing::warn!(%error, "checking for silent nodes failed; will retry");
                    }
                }
            }
        }
    });
    let signal_stop = stopping.clone();
    tracker.spawn(async move {
        tokio::select! {
            _ = shutdown => signal_stop.cancel(),
            _ = signal_stop.cancelled() => {}
        }
    });
    let result = server(app(hub.clone()), stopping.clone(), &tracker).await;
    stopping.cancel();
    tracker.close();
    tracker.wait().await;
    hub.db().close().await;
    result
}

/// Creates `dir` (and its parents) readable only by its owner when it is new:
/// it holds task specs, logs and results that may be private.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The default data dir: the platform's data folder, e.g. `~/.local/share/gantry/hub`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("gantry")
        .join("hub")
}

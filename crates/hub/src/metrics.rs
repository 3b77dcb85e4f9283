//! What the hub tells a Prometheus server at `GET /metrics`
//! (`api/metrics.rs` serves it).
//!
//! Two sources. Counters of what happened since the hub started live in
//! memory ([`Metrics`]): how long queued tasks waited for a node (a
//! histogram, observed at the moment a node claims one), the log bytes
//! agents sent, and the requests answered with an error, by route and
//! status class. Gauges of how things stand now are read from the database
//! at each scrape, one query each, on indexes (`db/metrics.rs`), so that
//! they are right after a restart and across hubs sharing one PostgreSQL.
//!
//! Every name is listed in README's Metrics section; a test reads them back
//! with Prometheus' own Python parser (crates/testkit/tests/metrics_hub.rs).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use gantry_protocol::TaskState;
use gantry_protocol::exposition::{Exposition, Histogram, Kind, SECONDS_BUCKETS};
use sha2::{Digest, Sha256};

use crate::{Hub, HubError};

/// The token `GET /metrics` asks for (`--metrics-token`,
/// GANTRY_METRICS_TOKEN). Kept as its sha256 only: it never shows in logs
/// or `Debug`, and comparing digests takes the same time whatever the
/// guess and however long it is.
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl MetricsToken {
    /// The token a scraper must send as `Authorization: Bearer <token>`.
    pub fn new(token: &str) -> MetricsToken {
        MetricsToken(Sha256::digest(token.trim().as_bytes()).into())
    }

    /// Whether `given` is the token, compared in constant time.
    pub fn admits(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        self.0
            .iter()
            .zip(given.iter())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

/// The hub's counters since it started; cheap to update from any handler.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Seconds from (last) queued to assigned, observed at each claim.
    dispatch: Mutex<Histogram>,
    /// Bytes of log appends the hub stored (repeats of bytes it held included).
    log_received: AtomicU64,
    /// Error answers by (route, status class).
    errors: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            dispatch: Mutex::new(Histogram::new(SECONDS_BUCKETS)),
            log_received: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    /// A task was assigned `waited_ms` after it was (last) queued.
    pub(crate) fn dispatched(&self, waited_ms: i64) {
        let seconds = waited_ms.max(0) as f64 / 1000.0;
        self.dispatch
            .lock()
            .expect("dispatch histogram poisoned")
            .observe(seconds);
    }

    /// An agent's log append of `bytes` was stored.
    pub(crate) fn log_received(&self, bytes: u64) {
        self.log_received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A request to `route` (the table's path, or `unmatched`) was answered
    /// with `status`, a 4xx or 5xx.
    pub(crate) fn request_error(&self, route: &str, status: u16) {
        let class = if status >= 500 { "5xx" } else { "4xx" };
        *self
            .errors
            .lock()
            .expect("error counts poisoned")
            .entry((route.to_owned(), class))
            .or_default() += 1;
    }
}

/// One scrape's text: the counters, then the gauges the database gives.
pub(crate) async fn render(hub: &Hub) -> Result<String, HubError> {
    let gauges = hub.db().gauges().await?;
    let metrics = hub.metrics();
    let mut text = Exposition::new();

    text.family(
        "gantry_hub_queue_depth",
        Kind::Gauge,
        "Queued tasks, by the labels they require (comma-separated, sorted; empty: any node)",
    );
    if gauges.queued.is_empty() {
        text.sample("gantry_hub_queue_depth", &[("labels", "")], 0.0);
    }
    for (labels, count) in &gauges.queued {
        text.sample(
            "gantry_hub_queue_depth",
            &[("labels", labels)],
            *count as f64,
        );
    }

    let dispatch = metrics
        .dispatch
        .lock()
        .expect("dispatch histogram poisoned")
        .clone();
    text.family(
        "gantry_hub_dispatch_latency_seconds",
        Kind::Histogram,
        "Seconds from a task being queued (or queued again) to a node claiming it",
    );
    text.histogram("gantry_hub_dispatch_latency_seconds", &[], &dispatch);

    let online: u64 = gauges
        .nodes
        .iter()
        .filter(|(state, _)| **state != "offline")
        .map(|(_, count)| count)
        .sum();
    text.single(
        "gantry_hub_nodes_online",
        Kind::Gauge,
        "Nodes whose agent is connected (working, yielding or draining)",
        online as f64,
    );
    text.family(
        "gantry_hub_nodes",
        Kind::Gauge,
        "Nodes by state: online (taking work), yielding (stepped aside for its person), draining, offline",
    );
    for state in ["online", "yielding", "draining", "offline"] {
        let count = gauges.nodes.get(state).copied().unwrap_or(0);
        text.sample("gantry_hub_nodes", &[("state", state)], count as f64);
    }

    text.family("gantry_hub_tasks", Kind::Gauge, "Tasks by state");
    for state in TaskState::ALL {
        let count = gauges.tasks.get(state.as_str()).copied().unwrap_or(0);
        text.sample(
            "gantry_hub_tasks",
            &[("state", state.as_str())],
            count as f64,
        );
    }

    text.single(
        "gantry_hub_log_received_bytes_total",
        Kind::Counter,
        "Bytes of task logs agents sent in appends the hub stored, since the hub started",
        metrics.log_received.load(Ordering::Relaxed) as f64,
    );
    text.single(
        "gantry_hub_log_stored_bytes",
        Kind::Gauge,
        "Bytes of task logs the hub holds",
        gauges.log_bytes as f64,
    );

    text.family(
        "gantry_hub_request_errors_total",
        Kind::Counter,
        "Requests answered with an error since the hub started, by route and status class (4xx, 5xx)",
    );
    let errors = metrics
        .errors
        .lock()
        .expect("error counts poisoned")
        .clone();
    for ((route, class), count) in &errors {
        text.sample(
            "gantry_hub_request_errors_total",
            &[("route", route), ("class", class)],
            *count as f64,
        );
    }
    Ok(text.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_admits_itself_only_and_never_shows() {
        let token = MetricsToken::new("s3cret-metrics");
        assert!(token.admits("s3cret-metrics"));
        assert!(!token.admits("s3cret-metric"));
        assert!(!token.admits(""));
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn errors_count_by_route_and_class() {
        let metrics = Metrics::default();
        metrics.request_error("/v1/tasks/{id}", 404);
        metrics.request_error("/v1/tasks/{id}", 409);
        metrics.request_error("/v1/tasks/{id}", 503);
        let errors = metrics.errors.lock().unwrap();
        assert_eq!(errors[&("/v1/tasks/{id}".to_owned(), "4xx")], 2);
        assert_eq!(errors[&("/v1/tasks/{id}".to_owned(), "5xx")], 1);
    }
}

//! What the agent tells a Prometheus server at `http://ADDR/metrics`
//! (`--metrics-listen ADDR`), and the image pulls it also tells StatsD.
//!
//! [`AgentMetrics`] counts as things happen (tasks taken and ended, image
//! pulls with their time and bytes) and keeps what the shippers and the
//! heartbeat last saw (each log's bytes not yet at the hub, the GPUs'
//! sample); [`AgentMetrics::page`] writes it out with the node's state at
//! that moment ([`Snapshot`]). Counting costs an atomic add or a short
//! lock, so it runs whether or not anyone scrapes.
//!
//! The page is served by `http.rs`, just enough HTTP/1.1 over tokio, not a
//! framework: axum is the hub's alone (the architecture test says so), and
//! one read-only page needs no more.

mod http;
mod shipping;

pub use http::{bind, serve};
pub use shipping::ShipGauge;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_protocol::exposition::{Exposition, Histogram, Kind, SECONDS_BUCKETS};
use gantry_protocol::wire::GpuInfo;

use crate::statsd::{Statsd, metric};

/// The agent's counters and last samples; shared by every task.
#[derive(Debug)]
pub struct AgentMetrics {
    tasks_started: AtomicU64,
    /// Ended tasks by outcome (a terminal state's name, or `released`).
    tasks_finished: Mutex<BTreeMap<&'static str, u64>>,
    pulls_succeeded: AtomicU64,
    pulls_failed: AtomicU64,
    pull_seconds: Mutex<Histogram>,
    pulled_bytes: AtomicU64,
    /// The logs being shipped now.
    shipping: shipping::Shipping,
    /// The GPUs as the monitor last sampled them.
    gpus: Mutex<Vec<GpuInfo>>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        AgentMetrics {
            tasks_started: AtomicU64::new(0),
            tasks_finished: Mutex::new(BTreeMap::new()),
            pulls_succeeded: AtomicU64::new(0),
            pulls_failed: AtomicU64::new(0),
            pull_seconds: Mutex::new(Histogram::new(SECONDS_BUCKETS)),
            pulled_bytes: AtomicU64::new(0),
            shipping: shipping::Shipping::default(),
            gpus: Mutex::new(Vec::new()),
        }
    }
}

/// A GPU gauge: its name, its help, and its value for one GPU.
type GpuFamily = (&'static str, &'static str, fn(&GpuInfo) -> f64);

/// The node at the moment of a scrape, as its status says it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The state of each task the agent holds.
    pub held: Vec<TaskState>,
    /// Whether the last call to the hub was answered.
    pub connected: bool,
    /// Whether the node steps aside for its person now.
    pub yielding: bool,
    /// Whether it stepped aside for GPU work only.
    pub yielding_gpu_only: bool,
}

impl AgentMetrics {
    /// The agent took a new task.
    pub fn task_started(&self) {
        self.tasks_started.fetch_add(1, Ordering::Relaxed);
    }

    /// A task left the agent in `state`: a terminal state, or `Queued` for
    /// one released back to the hub's queue.
    pub fn task_finished(&self, state: TaskState) {
        let outcome = match state {
            TaskState::Queued => "released",
            state => state.as_str(),
        };
        *self
            .tasks_finished
            .lock()
            .expect("task counts poisoned")
            .entry(outcome)
            .or_default() += 1;
    }

    /// An image pull ended after `took`, having downloaded `bytes` (as
    /// Docker reported them; 0 when it said nothing). Also tells StatsD,
    /// when configured: Gantry's own names and the Semaphore agent's
    /// `compose_ci.docker_pull.*`, tagged with the image.
    pub fn pulled(
        &self,
        statsd: Option<&Statsd>,
        image: &str,
        took: Duration,
        ok: bool,
        bytes: u64,
    ) {
        let counter = if ok {
            &self.pulls_succeeded
        } else {
            &self.pulls_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.pulled_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.pull_seconds
            .lock()
            .expect("pull histogram poisoned")
            .observe(took.as_secs_f64());
        let Some(statsd) = statsd else { return };
        let (ours, theirs) = if ok {
            (metric::DOCKER_PULL_SUCCESS, metric::COMPOSE_PULL_SUCCESS)
        } else {
            (metric::DOCKER_PULL_FAILURE, metric::COMPOSE_PULL_FAILURE)
        };
        statsd.timing(metric::DOCKER_PULL_DURATION, took);
        statsd.count(ours, 1);
        let tags = [("image", image)];
        statsd.timing_tagged(metric::COMPOSE_PULL_DURATION, took, &tags);
        statsd.count_tagged(theirs, 1, &tags);
    }

    /// The GPUs as the monitor sampled them just now.
    pub fn sampled_gpus(&self, gpus: &[GpuInfo]) {
        *self.gpus.lock().expect("gpu sample poisoned") = gpus.to_vec();
    }

    /// A gauge for one log's shipper, counted until it is dropped; the
    /// spool announces its length on `length`.
    pub fn shipping(self: &Arc<Self>, length: tokio::sync::watch::Receiver<u64>) -> ShipGauge {
        shipping::Shipping::gauge(self, length)
    }

    /// The bytes of the logs being shipped that the hub has not
    /// acknowledged, and how long the log furthest behind has been behind.
    pub fn ship_backlog(&self) -> (u64, Duration) {
        self.shipping.backlog()
    }

    /// The page: every metric, in Prometheus' text format.
    pub fn page(&self, now: &Snapshot) -> String {
        let mut text = Exposition::new();
        self.task_metrics(&mut text, now);
        self.pull_metrics(&mut text);
        let (backlog, lag) = self.ship_backlog();
        text.single(
            "gantry_agent_spool_backlog_bytes",
            Kind::Gauge,
            "Bytes of the held tasks' logs written to the spool and not yet acknowledged by the hub",
            backlog as f64,
        );
        text.single(
            "gantry_agent_shipper_lag_seconds",
            Kind::Gauge,
            "How long the log furthest behind has had bytes the hub does not hold (0: every log is caught up)",
            lag.as_secs_f64(),
        );
        self.gpu_metrics(&mut text);
        text.single(
            "gantry_agent_connected",
            Kind::Gauge,
            "1 when the hub answered the agent's last call, else 0",
            f64::from(u8::from(now.connected)),
        );
        text.family(
            "gantry_agent_yielding",
            Kind::Gauge,
            "1 while the node steps aside for its person, by what it stops (all work, or GPU work only)",
        );
        text.sample(
            "gantry_agent_yielding",
            &[("scope", "all")],
            f64::from(u8::from(now.yielding && !now.yielding_gpu_only)),
        );
        text.sample(
            "gantry_agent_yielding",
            &[("scope", "gpu")],
            f64::from(u8::from(now.yielding && now.yielding_gpu_only)),
        );
        text.finish()
    }

    fn task_metrics(&self, text: &mut Exposition, now: &Snapshot) {
        text.family(
            "gantry_agent_tasks",
            Kind::Gauge,
            "Tasks the agent holds, by state",
        );
        for state in [
            TaskState::Assigned,
            TaskState::Pulling,
            TaskState::Running,
            TaskState::Paused,
        ] {
            let count = now.held.iter().filter(|held| **held == state).count();
            text.sample(
                "gantry_agent_tasks",
                &[("state", state.as_str())],
                count as f64,
            );
        }
        text.single(
            "gantry_agent_tasks_running",
            Kind::Gauge,
            "Tasks whose command runs now",
            now.held
                .iter()
                .filter(|held| **held == TaskState::Running)
                .count() as f64,
        );
        text.single(
            "gantry_agent_tasks_started_total",
            Kind::Counter,
            "Tasks the agent took from the hub since it started",
            self.tasks_started.load(Ordering::Relaxed) as f64,
        );
        text.family(
            "gantry_agent_tasks_finished_total",
            Kind::Counter,
            "Tasks that ended on this agent since it started, by outcome (succeeded, failed, canceled, lost, released)",
        );
        let finished = self
            .tasks_finished
            .lock()
            .expect("task counts poisoned")
            .clone();
        for outcome in ["succeeded", "failed", "canceled", "released"] {
            let count = finished.get(outcome).copied().unwrap_or(0);
            text.sample(
                "gantry_agent_tasks_finished_total",
                &[("outcome", outcome)],
                count as f64,
            );
        }
        for (outcome, count) in finished
            .iter()
            .filter(|(o, _)| !["succeeded", "failed", "canceled", "released"].contains(o))
        {
            text.sample(
                "gantry_agent_tasks_finished_total",
                &[("outcome", outcome)],
                *count as f64,
            );
        }
    }

    fn pull_metrics(&self, text: &mut Exposition) {
        text.family(
            "gantry_agent_image_pulls_total",
            Kind::Counter,
            "Image pulls since the agent started, by result",
        );
        text.sample(
            "gantry_agent_image_pulls_total",
            &[("result", "success")],
            self.pulls_succeeded.load(Ordering::Relaxed) as f64,
        );
        text.sample(
            "gantry_agent_image_pulls_total",
            &[("result", "failure")],
            self.pulls_failed.load(Ordering::Relaxed) as f64,
        );
        let histogram = self
            .pull_seconds
            .lock()
            .expect("pull histogram poisoned")
            .clone();
        text.family(
            "gantry_agent_image_pull_duration_seconds",
            Kind::Histogram,
            "How long image pulls took, successful or not",
        );
        text.histogram("gantry_agent_image_pull_duration_seconds", &[], &histogram);
        text.single(
            "gantry_agent_image_pulled_bytes_total",
            Kind::Counter,
            "Bytes of image layers downloaded, as Docker reported them",
            self.pulled_bytes.load(Ordering::Relaxed) as f64,
        );
    }

    fn gpu_metrics(&self, text: &mut Exposition) {
        let gpus = self.gpus.lock().expect("gpu sample poisoned").clone();
        let labelled = |gpu: &GpuInfo| (gpu.index.to_string(), gpu.uuid.clone(), gpu.name.clone());
        let families: [GpuFamily; 3] = [
            (
                "gantry_agent_gpu_utilization_ratio",
                "How busy each GPU was at the last sample, 0 to 1",
                |gpu| f64::from(gpu.utilization_percent) / 100.0,
            ),
            (
                "gantry_agent_gpu_memory_used_bytes",
                "Memory in use on each GPU at the last sample",
                |gpu| gpu.memory_used_bytes as f64,
            ),
            (
                "gantry_agent_gpu_memory_total_bytes",
                "Memory installed on each GPU",
                |gpu| gpu.memory_total_bytes as f64,
            ),
        ];
        for (name, help, value) in families {
            text.family(name, Kind::Gauge, help);
            for gpu in &gpus {
                let (index, uuid, model) = labelled(gpu);
                text.sample(
                    name,
                    &[("gpu", &index), ("uuid", &uuid), ("name", &model)],
                    value(gpu),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_counts_tasks_and_pulls() {
        let metrics = AgentMetrics::default();
        metrics.task_started();
        metrics.task_finished(TaskState::Succeeded);
        metrics.task_finished(TaskState::Queued);
        metrics.task_finished(TaskState::Lost);
        metrics.pulled(None, "busybox:1", Duration::from_millis(300), true, 2048);
        metrics.pulled(None, "nope:1", Duration::from_millis(20), false, 0);
        let page = metrics.page(&Snapshot {
            held: vec![TaskState::Running, TaskState::Pulling],
            connected: true,
            ..Snapshot::default()
        });
        for line in [
            "gantry_agent_tasks{state=\"running\"} 1",
            "gantry_agent_tasks{state=\"pulling\"} 1",
            "gantry_agent_tasks_running 1",
            "gantry_agent_tasks_started_total 1",
            "gantry_agent_tasks_finished_total{outcome=\"succeeded\"} 1",
            "gantry_agent_tasks_finished_total{outcome=\"released\"} 1",
            "gantry_agent_tasks_finished_total{outcome=\"lost\"} 1",
            "gantry_agent_image_pulls_total{result=\"success\"} 1",
            "gantry_agent_image_pulls_total{result=\"failure\"} 1",
            "gantry_agent_image_pull_duration_seconds_count 2",
            "gantry_agent_image_pulled_bytes_total 2048",
            "gantry_agent_connected 1",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "{line} missing from:\n{page}"
            );
        }
    }
}

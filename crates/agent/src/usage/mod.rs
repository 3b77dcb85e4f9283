//! Usage accounting: what one task uses on this node, measured while it runs
//! and sent with its final report ([`gantry_protocol::usage::TaskUsage`]).
//!
//! - Wall time: from when this node took the task until it ends here.
//! - CPU seconds: each of its containers' cgroup total, read every
//!   [`CPU_EVERY`] while it runs ([`CpuWatch`]) and kept at its largest, since a
//!   container's cgroup goes when it stops: up to that much of a container's
//!   last moments may be missed. Process tasks say nothing of CPU.
//! - GPUs: each GPU it holds, by UUID and index, for as long as it holds it,
//!   with the difference of the GPU's energy counter (NVML's total energy
//!   consumption) between taking it and giving it back. A GPU shared by
//!   several tasks counts its whole difference for each of them.
//! - Bytes: image bytes pulled, result and checkpoint blobs uploaded, input
//!   and checkpoint blobs downloaded (counted where they move, through
//!   [`METER`], which the task's walk runs within).
//!
//! The [`Tally`] rides in the task's record, so a restarted agent goes on
//! counting where it was.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_protocol::usage::{GpuUsage, TaskUsage};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::docker::Engine;
use crate::gpus::GpuOwner;

/// How often a running task's containers' CPU time is read.
pub const CPU_EVERY: Duration = Duration::from_millis(500);

tokio::task_local! {
    /// The meter of the task whose walk this code runs in, for the places
    /// bytes move (pulls, blob fetches and uploads) without a task at hand.
    pub static METER: Meter;
}

/// What a task used so far, as kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// When this node took the task (Unix ms).
    pub started_ms: i64,
    /// Container id → the most CPU seconds its cgroup said.
    #[serde(default)]
    pub cpu_by_container: BTreeMap<String, f64>,
    /// Whether its CPU is measured at all (it runs in Docker).
    #[serde(default)]
    pub cpu_measured: bool,
    /// The GPUs it took.
    #[serde(default)]
    pub gpus: Vec<GpuHold>,
    /// Image bytes pulled for it.
    #[serde(default)]
    pub bytes_pulled: u64,
    /// Blob bytes uploaded for it.
    #[serde(default)]
    pub bytes_uploaded: u64,
    /// Blob bytes downloaded for it.
    #[serde(default)]
    pub bytes_downloaded: u64,
}

/// One GPU a task took, with what its figures start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuHold {
    /// `GPU-…` or `MIG-…`.
    pub uuid: String,
    /// NVML's index.
    pub index: u32,
    /// When the task took it (Unix ms).
    pub since_ms: i64,
    /// Its energy counter then, in millijoules, where it keeps one.
    pub energy_mj: Option<u64>,
}

/// A task's running tally, shared by its walk and its CPU watch.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Tally>>);

impl Meter {
    /// A meter from `tally` (a new one, or a record's).
    pub fn new(tally: Tally) -> Meter {
        Meter(Arc::new(Mutex::new(tally)))
    }

    fn with<R>(&self, change: impl FnOnce(&mut Tally) -> R) -> R {
        change(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The tally now, for the record.
    pub fn tally(&self) -> Tally {
        self.with(|t| t.clone())
    }

    /// Notes CPU seconds a container's cgroup said; the largest counts.
    pub fn cpu(&self, container: &str, seconds: f64) {
        self.with(|t| {
            t.cpu_measured = true;
            let kept = t
                .cpu_by_container
                .entry(container.to_owned())
                .or_insert(0.0);
            *kept = kept.max(seconds);
        });
    }

    /// Notes the GPUs the task took: `(uuid, index, energy counter)`.
    pub fn took_gpus(&self, gpus: Vec<(String, u32, Option<u64>)>, now_ms: i64) {
        self.with(|t| {
            t.gpus = gpus
                .into_iter()
                .map(|(uuid, index, energy_mj)| GpuHold {
                    uuid,
                    index,
                    since_ms: now_ms,
                    energy_mj,
                })
                .collect();
        });
    }

    /// The task's usage at `now_ms`, its GPUs' energy counters reading
    /// `energy` (uuid → millijoules) now.
    pub fn usage(&self, now_ms: i64, energy: &BTreeMap<String, u64>) -> TaskUsage {
        self.with(|t| TaskUsage {
            wall_seconds: (now_ms - t.started_ms).max(0) as f64 / 1000.0,
            cpu_seconds: t
                .cpu_measured
                .then(|| t.cpu_by_container.values().sum::<f64>()),
            gpus: t
                .gpus
                .iter()
                .map(|hold| GpuUsage {
                    uuid: hold.uuid.clone(),
                    index: hold.index,
                    seconds: (now_ms - hold.since_ms).max(0) as f64 / 1000.0,
                    energy_wh: match (hold.energy_mj, energy.get(&hold.uuid)) {
                        (Some(before), Some(&now)) => {
                            Some(now.saturating_sub(before) as f64 / 3_600_000.0)
                        }
                        _ => None,
                    },
                })
                .collect(),
            bytes_pulled: t.bytes_pulled,
            bytes_uploaded: t.bytes_uploaded,
            bytes_downloaded: t.bytes_downloaded,
        })
    }
}

/// Adds image bytes pulled to the current task's meter, if any.
pub fn pulled(bytes: u64) {
    let _ = METER.try_with(|m| m.with(|t| t.bytes_pulled += bytes));
}

/// Adds blob bytes uploaded to the current task's meter, if any.
pub fn uploaded(bytes: u64) {
    let _ = METER.try_with(|m| m.with(|t| t.bytes_uploaded += bytes));
}

/// Adds blob bytes downloaded to the current task's meter, if any.
pub fn downloaded(bytes: u64) {
    let _ = METER.try_with(|m| m.with(|t| t.bytes_downloaded += bytes));
}

/// Each GPU of `uuids` with its index and energy counter now (none without NVML).
pub async fn gpu_counters(gpus: &GpuOwner, uuids: Vec<String>) -> Vec<(String, u32, Option<u64>)> {
    let Some(monitor) = gpus.monitor() else {
        return Vec::new();
    };
    if uuids.is_empty() {
        return Vec::new();
    }
    tokio::task::spawn_blocking(move || {
        let monitor = monitor.lock().unwrap_or_else(|e| e.into_inner());
        monitor.energy_counters(&uuids)
    })
    .await
    .unwrap_or_default()
}

/// Reads a task's containers' CPU time every [`CPU_EVERY`] into its meter,
/// until stopped; a last reading is taken when it stops.
#[derive(Debug)]
pub struct CpuWatch {
    stop: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl CpuWatch {
    /// Starts watching `task_id`'s containers; `parent` is the agent's stop.
    pub fn start(
        engine: Engine,
        task_id: String,
        meter: Meter,
        parent: &CancellationToken,
    ) -> CpuWatch {
        let stop = parent.child_token();
        meter.with(|t| t.cpu_measured = true);
        let handle = tokio::spawn({
            let stop = stop.clone();
            async move {
                loop {
                    for (container, seconds) in engine.task_cpu_seconds(&task_id).await {
                        meter.cpu(&container, seconds);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(CPU_EVERY) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        });
        CpuWatch {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops watching, once the watch's current reading is done.
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

impl Drop for CpuWatch {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_seconds_and_energy_come_from_when_the_gpus_were_taken() {
        let meter = Meter::new(Tally {
            started_ms: 1_000,
            ..Tally::default()
        });
        meter.took_gpus(
            vec![
                ("GPU-a".into(), 0, Some(7_200_000)),
                ("GPU-b".into(), 1, None),
            ],
            2_000,
        );
        meter.cpu("c1", 1.5);
        meter.cpu("c1", 1.0);
        meter.cpu("c2", 0.5);
        let energy = BTreeMap::from([("GPU-a".to_owned(), 10_800_000)]);
        let usage = meter.usage(12_000, &energy);
        assert_eq!(usage.wall_seconds, 11.0);
        assert_eq!(usage.cpu_seconds, Some(2.0));
        assert_eq!(usage.gpus[0].seconds, 10.0);
        assert_eq!(usage.gpus[0].energy_wh, Some(1.0));
        assert_eq!(usage.gpus[1].energy_wh, None);
        assert_eq!(usage.gpus[1].index, 1);
    }

    #[tokio::test]
    async fn bytes_count_only_within_a_tasks_walk() {
        uploaded(5);
        let meter = Meter::default();
        METER
            .scope(meter.clone(), async {
                pulled(1);
                uploaded(2);
                downloaded(3);
            })
            .await;
        let tally = meter.tally();
        assert_eq!(
            (
                tally.bytes_pulled,
                tally.bytes_uploaded,
                tally.bytes_downloaded
            ),
            (1, 2, 3)
        );
    }
}

//! Sampling what the node's GPU tasks use of their GPUs, for the hub (with
//! the heartbeats) and the desktop's task detail ([`Agent::gpu_use`]).
//!
//! Every [`SAMPLE_EVERY`] while any task holds GPUs, one blocking pass reads
//! NVML for all of them at once ([`crate::monitor::Monitor::tasks_gpu_use`])
//! and the [`crate::gpu_use::GpuMeter`] adds it up. A task that just took
//! its GPUs is sampled within [`LOOK_EVERY`], so its energy baseline is
//! close to its start. Nothing is read on a node without NVML (the loop
//! does not start) nor while no task holds a GPU (only the GPU owner's
//! in-memory holders are looked at).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gantry_protocol::wire::TaskGpuUse;

use super::Agent;
use crate::clock::now_ms;
use crate::gpus::HeldGpus;

/// How often the GPU tasks' use is read from NVML.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// How often the holders are looked at (in memory) for a task that just
/// took or gave back GPUs.
const LOOK_EVERY: Duration = Duration::from_secs(1);

impl Agent {
    /// What task `id` used of its GPUs, with the series for a chart: while
    /// it holds them, and for a while after it gave them back; `None` for a
    /// task that held no GPU here.
    pub fn gpu_use(&self, id: &str) -> Option<TaskGpuUse> {
        self.inner.gpu_meter.task(id, now_ms())
    }

    /// The GPU figures the next heartbeat carries (see
    /// [`crate::gpu_use::GpuMeter::reports`]); the holders are looked at
    /// first, so a task that just gave its GPUs back is reported ended.
    pub(super) fn gpu_reports(&self) -> std::collections::BTreeMap<String, TaskGpuUse> {
        let now = now_ms();
        let meter = &self.inner.gpu_meter;
        meter.settle(&self.inner.ctx.gpus.holdings(), now);
        meter.reports(now)
    }

    /// Samples the GPU tasks until the agent stops; returns at once where
    /// there is no NVML.
    pub(super) async fn meter_gpus(&self) {
        let nvml = self
            .inner
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .has_nvml();
        if !nvml {
            return;
        }
        let stop = self.inner.ctx.stop.clone();
        let mut changes = self.inner.ctx.gpus.changes();
        let mut last_read: Option<Instant> = None;
        loop {
            let holdings = self.inner.ctx.gpus.holdings();
            let fresh = self.inner.gpu_meter.settle(&holdings, now_ms());
            let due = fresh > 0 || last_read.is_none_or(|at| at.elapsed() >= SAMPLE_EVERY);
            if !holdings.is_empty() && due {
                self.sample_gpu_use(holdings).await;
                last_read = Some(Instant::now());
            }
            tokio::select! {
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = changes.changed() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// One sample of every holder: their host pids (a container's from the
    /// engine, a process task's from /proc), then one NVML pass.
    async fn sample_gpu_use(&self, holdings: Vec<HeldGpus>) {
        let (containers, processes): (Vec<&HeldGpus>, Vec<&HeldGpus>) = {
            let held = self.inner.held.lock().expect("held map poisoned");
            holdings
                .iter()
                .partition(|h| held.get(&h.task_id).is_some_and(|task| !task.process))
        };
        let mut pids: HashMap<String, HashSet<u32>> = HashMap::new();
        if let Ok(engine) = &self.inner.ctx.engine
            && !containers.is_empty()
            && let Ok(running) = engine.containers(None).await
        {
            for container in running {
                let Some(task) = container.task_id.as_ref() else {
                    continue;
                };
                if containers.iter().any(|h| &h.task_id == task) {
                    let found = engine.host_pids(&container.id).await;
                    pids.entry(task.clone()).or_default().extend(found);
                }
            }
        }
        let folders: Vec<(String, PathBuf)> = processes
            .iter()
            .map(|h| (h.task_id.clone(), self.inner.ctx.host.task_dir(&h.task_id)))
            .collect();
        let monitor = self.inner.monitor.clone();
        let readings = tokio::task::spawn_blocking(move || {
            for (task, found) in processes_in(&folders) {
                pids.entry(task).or_default().extend(found);
            }
            let pids: Vec<HashSet<u32>> = holdings
                .iter()
                .map(|h| {
                    let own = pids.remove(&h.task_id).unwrap_or_default();
                    crate::yielding::procs::with_descendants(&own)
                })
                .collect();
            let asked: Vec<(&HashSet<u32>, &[String])> = holdings
                .iter()
                .zip(&pids)
                .map(|(h, pids)| (pids, h.uuids.as_slice()))
                .collect();
            let at = now_ms();
            let used = monitor
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .tasks_gpu_use(&asked)?;
            Some((
                at,
                holdings
                    .iter()
                    .zip(used)
                    .map(|(h, used)| (h.task_id.clone(), used, h.shared))
                    .collect::<Vec<_>>(),
            ))
        })
        .await
        .ok()
        .flatten();
        if let Some((at, readings)) = readings {
            self.inner.gpu_meter.record(at, &readings);
        }
    }
}

/// The processes whose working folder is under each task's folder (a
/// process task's group runs in its work folder), in one pass over /proc.
fn processes_in(folders: &[(String, PathBuf)]) -> HashMap<String, HashSet<u32>> {
    let mut found: HashMap<String, HashSet<u32>> = HashMap::new();
    if folders.is_empty() {
        return found;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if let Some((task, _)) = folders.iter().find(|(_, folder)| cwd.starts_with(folder)) {
            found.entry(task.clone()).or_default().insert(pid);
        }
    }
    found
}

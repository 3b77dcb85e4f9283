//! The machine's samples for the Overview: CPU, memory, the storage folder's
//! disk and the GPUs, one a second from the agent's [`Monitor`], the last
//! five minutes kept so a window opened late draws whole charts at once.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_agent::monitor::Monitor;
use tokio::sync::broadcast;

use gantry_agent::clock::now_ms;

use super::Desktop;
use crate::view::MetricsSample;

/// Samples kept: five minutes at one a second.
const HISTORY: usize = 300;

/// The machine's samples of the last minutes, and each new one as it comes.
#[derive(Debug)]
pub(super) struct MetricsHistory {
    /// Oldest first, at most [`HISTORY`].
    samples: Mutex<VecDeque<MetricsSample>>,
    new: broadcast::Sender<MetricsSample>,
}

impl MetricsHistory {
    pub(super) fn new() -> MetricsHistory {
        MetricsHistory {
            samples: Mutex::default(),
            new: broadcast::channel(16).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<MetricsSample>> {
        self.samples.lock().expect("metrics poisoned")
    }

    /// Keeps a sample, the oldest going, and sends it to the Overviews open.
    fn record(&self, sample: MetricsSample) {
        {
            let mut history = self.lock();
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(sample.clone());
        }
        let _ = self.new.send(sample);
    }

    /// The mean use of the GPUs in the last sample, when it has any.
    pub(super) fn gpu_percent(&self) -> Option<u32> {
        let history = self.lock();
        let gpus = &history.back()?.gpus;
        (!gpus.is_empty())
            .then(|| gpus.iter().map(|g| g.utilization_percent).sum::<u32>() / gpus.len() as u32)
    }

    /// The samples kept, and a receiver of the ones to come. Subscribed
    /// before the history is copied: a sample taken between the two is sent
    /// twice at worst, never lost.
    fn follow(&self) -> (Vec<MetricsSample>, broadcast::Receiver<MetricsSample>) {
        let new = self.new.subscribe();
        let history = self.lock().iter().cloned().collect();
        (history, new)
    }
}

/// The agent's [`Monitor`] for the storage folder measured now, shared by
/// the sampler and Task detail (which asks which processes hold GPU memory).
#[derive(Debug, Default)]
pub(super) struct SharedMonitor {
    current: Mutex<Option<(PathBuf, Arc<Mutex<Monitor>>)>>,
}

impl SharedMonitor {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(PathBuf, Arc<Mutex<Monitor>>)>> {
        self.current.lock().expect("monitor poisoned")
    }

    /// The monitor, if the sampler made one.
    pub(super) fn get(&self) -> Option<Arc<Mutex<Monitor>>> {
        self.lock().as_ref().map(|(_, monitor)| Arc::clone(monitor))
    }

    /// The monitor, if it measures the disk of `host_dir`.
    fn measuring(&self, host_dir: &Path) -> Option<Arc<Mutex<Monitor>>> {
        self.lock()
            .as_ref()
            .filter(|(measured, _)| measured == host_dir)
            .map(|(_, monitor)| Arc::clone(monitor))
    }

    fn set(&self, host_dir: PathBuf, monitor: Arc<Mutex<Monitor>>) {
        *self.lock() = Some((host_dir, monitor));
    }
}

impl Desktop {
    /// Samples the machine (CPU, memory, disk, GPUs) every second until the
    /// app quits.
    pub(super) fn spawn_sampler(self: &Arc<Desktop>) {
        let desktop = Arc::clone(self);
        let stop = self.jobs.stop.clone();
        self.jobs.tracker.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => {}
                }
                // The storage folder can change in Settings: its disk is measured.
                let host_dir = desktop.host_dir();
                let monitor = match desktop.monitor.measuring(&host_dir) {
                    Some(monitor) => monitor,
                    None => {
                        let dir = host_dir.clone();
                        let Ok(monitor) =
                            tokio::task::spawn_blocking(move || Monitor::new(&dir)).await
                        else {
                            return;
                        };
                        let monitor = Arc::new(Mutex::new(monitor));
                        desktop.monitor.set(host_dir, Arc::clone(&monitor));
                        monitor
                    }
                };
                let sample = tokio::task::spawn_blocking(move || {
                    monitor.lock().expect("monitor poisoned").sample()
                })
                .await;
                if let Ok(sample) = sample {
                    desktop
                        .metrics
                        .record(MetricsSample::new(&sample, now_ms()));
                }
            }
        });
    }

    /// Sends the samples of the last minutes through `send`, then each new
    /// one, until `send` fails (the window went away) or the app quits.
    pub fn watch_metrics(&self, send: impl Fn(Vec<MetricsSample>) -> bool + Send + 'static) {
        let (history, mut samples) = self.metrics.follow();
        let stop = self.jobs.stop.clone();
        self.jobs.tracker.spawn(async move {
            if !send(history) {
                return;
            }
            loop {
                let sample = tokio::select! {
                    _ = stop.cancelled() => return,
                    sample = samples.recv() => sample,
                };
                match sample {
                    Ok(sample) => {
                        if !send(vec![sample]) {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{GpuSample, GpuState};

    fn sample(at_ms: i64, gpus: &[u32]) -> MetricsSample {
        MetricsSample {
            at_ms,
            cpu_percent: 1.0,
            cpu_cores: 2,
            memory_used_bytes: 1,
            memory_total_bytes: 2,
            disk_total_bytes: 2,
            disk_free_bytes: 1,
            gpu_state: GpuState::Available,
            gpu_message: None,
            gpus: gpus
                .iter()
                .enumerate()
                .map(|(index, &utilization_percent)| GpuSample {
                    index: index as u32,
                    name: "gpu".into(),
                    utilization_percent,
                    memory_used_bytes: 0,
                    memory_total_bytes: 1,
                    temperature_c: None,
                })
                .collect(),
        }
    }

    #[test]
    fn five_minutes_are_kept_and_the_gpu_use_is_the_last_samples_mean() {
        let metrics = MetricsHistory::new();
        assert_eq!(metrics.gpu_percent(), None, "no sample yet");
        for at in 0..=HISTORY as i64 {
            metrics.record(sample(at, &[50, 100]));
        }
        let (history, mut new) = metrics.follow();
        assert_eq!(history.len(), HISTORY);
        assert_eq!(history[0].at_ms, 1, "the oldest went");
        assert_eq!(metrics.gpu_percent(), Some(75));
        metrics.record(sample(1000, &[]));
        assert_eq!(new.try_recv().unwrap().at_ms, 1000, "followers hear it");
        assert_eq!(metrics.gpu_percent(), None, "no GPU in the last sample");
    }
}

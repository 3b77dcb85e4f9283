//! Task detail's GPU section: what a task did with the GPUs it holds, as
//! the agent core measured it (`Agent::gpu_use`, with its series for the
//! chart) or, for a task this app did not run, as the hub keeps it (no
//! series). A type of the UI's, so [`crate::view::typescript`] declares it.

use gantry_protocol::wire::TaskGpuUse;
use serde::Serialize;
use ts_rs::TS;

/// A task's GPU use (NVML), for Task detail.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct TaskGpuUseView {
    /// How many GPUs it holds.
    pub gpus: u32,
    /// Wall time holding them × how many.
    pub gpu_seconds: f64,
    /// GPU memory its processes hold now (at its end: at the last sample).
    #[ts(type = "number")]
    pub memory_bytes: u64,
    /// The most they held.
    #[ts(type = "number")]
    pub memory_peak_bytes: u64,
    /// Their utilization now, in percent, where the GPUs say.
    pub utilization_percent: Option<u32>,
    /// Its mean over the task's samples.
    pub utilization_mean_percent: Option<f64>,
    /// Energy its GPUs used while it held them alone, in watt-hours.
    pub energy_wh: Option<f64>,
    /// Something else used its GPUs for part of its run (that part's energy
    /// is left out).
    pub energy_shared: bool,
    /// It gave its GPUs back: final figures.
    pub ended: bool,
    /// Memory and utilization over its life, oldest first; empty when only
    /// the hub knows the task.
    pub series: Vec<GpuUsePointView>,
}

/// One point of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct GpuUsePointView {
    /// When, ms since the epoch.
    #[ts(type = "number")]
    pub at_ms: i64,
    /// GPU memory its processes held.
    #[ts(type = "number")]
    pub memory_bytes: u64,
    /// Their utilization, in percent, where the GPUs say.
    pub utilization_percent: Option<u32>,
}

impl From<&TaskGpuUse> for TaskGpuUseView {
    fn from(used: &TaskGpuUse) -> TaskGpuUseView {
        TaskGpuUseView {
            gpus: used.gpus,
            gpu_seconds: used.gpu_seconds,
            memory_bytes: used.memory_bytes,
            memory_peak_bytes: used.memory_peak_bytes,
            utilization_percent: used.utilization_percent,
            utilization_mean_percent: used.utilization_mean_percent,
            energy_wh: used.energy_wh,
            energy_shared: used.energy_shared,
            ended: used.ended,
            series: used
                .series
                .iter()
                .map(|p| GpuUsePointView {
                    at_ms: p.at,
                    memory_bytes: p.memory_bytes,
                    utilization_percent: p.utilization_percent,
                })
                .collect(),
        }
    }
}

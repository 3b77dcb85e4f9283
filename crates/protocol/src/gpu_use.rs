//! A task's use of its GPUs, as its node measured it (NVML): what the agent
//! sends with its heartbeats ([`crate::wire::Heartbeat::gpu_use`]), the hub
//! keeps on the task and answers in `Task.gpu_use`.
//!
//! The figures are those a person asks about while a task runs (memory now
//! and at its peak, how busy its GPUs are) and those usage accounting adds
//! up afterwards: GPU-seconds (wall time holding GPUs × GPUs held) and energy
//! in watt-hours. Energy comes from the GPUs' own counter, so it is the
//! task's only while the task holds its GPUs alone; [`TaskGpuUse::energy_shared`]
//! says when it did not for part of its run (that part is left out).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::wire::Millis;

/// What one task used of the GPUs it holds, from when it took them until
/// the latest sample (or until it gave them back, once `ended`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskGpuUse {
    /// How many GPUs (or MIG devices) it holds.
    pub gpus: u32,
    /// Wall time holding its GPUs × how many, in seconds.
    #[schemars(range(min = 0.0))]
    pub gpu_seconds: f64,
    /// GPU memory its processes hold now (at the end: at the last sample), in
    /// bytes, over all its GPUs.
    pub memory_bytes: u64,
    /// The most GPU memory its processes held at any sample, in bytes.
    pub memory_peak_bytes: u64,
    /// Its processes' share of its GPUs' multiprocessors now, in percent,
    /// averaged over its GPUs; absent where the GPUs keep no per-process
    /// samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100))]
    pub utilization_percent: Option<u32>,
    /// The mean of `utilization_percent` over its samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub utilization_mean_percent: Option<f64>,
    /// Energy its GPUs used while it held them, in watt-hours (the difference
    /// of the GPUs' energy counter); absent where the GPUs do not count energy
    /// (older GPUs, MIG devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub energy_wh: Option<f64>,
    /// Another task or program used its GPUs for part of its run: that part's
    /// energy is nobody's alone and is left out of `energy_wh`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub energy_shared: bool,
    /// When it took its GPUs.
    pub since: Millis,
    /// When these figures were measured.
    pub sampled_at: Millis,
    /// The task gave its GPUs back: these are its final figures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
    /// Memory (bytes) and utilization (percent) over the task's life, oldest
    /// first, at most [`TaskGpuUse::SERIES_POINTS`] points (evenly thinned
    /// as the task runs on), for a chart. Only the node that ran it keeps
    /// them (the desktop's task detail); heartbeats and the hub leave them out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 120))]
    pub series: Vec<GpuUsePoint>,
}

/// One sample of a task's GPU use, for a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuUsePoint {
    /// When.
    pub at: Millis,
    /// GPU memory its processes held, in bytes.
    pub memory_bytes: u64,
    /// Their utilization, in percent, where the GPUs say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_percent: Option<u32>,
}

/// The schema of a heartbeat's `gpu_use`: task ids to [`TaskGpuUse`].
pub(crate) fn by_task(generator: &mut SchemaGenerator) -> Schema {
    let figures = generator.subschema_for::<TaskGpuUse>();
    json_schema!({
        "type": "object",
        "propertyNames": {"pattern": crate::rules::TASK_ID},
        "additionalProperties": figures,
        "description": "Each GPU task's use of its GPUs, by task id"
    })
}

impl TaskGpuUse {
    /// The most points a series keeps.
    pub const SERIES_POINTS: usize = 120;

    /// Why these figures cannot be a node's honest report, in words; `None`
    /// when they can.
    pub fn problem(&self) -> Option<String> {
        let finite = |value: f64| value.is_finite() && value >= 0.0;
        if !finite(self.gpu_seconds) {
            return Some("gpu_seconds must be a number of seconds, 0 or more".into());
        }
        if self.energy_wh.is_some_and(|wh| !finite(wh)) {
            return Some("energy_wh must be a number of watt-hours, 0 or more".into());
        }
        if self.utilization_percent.is_some_and(|p| p > 100)
            || self
                .utilization_mean_percent
                .is_some_and(|p| !finite(p) || p > 100.0)
        {
            return Some("utilization must be a percent from 0 to 100".into());
        }
        if self.series.len() > Self::SERIES_POINTS {
            return Some(format!(
                "series has {} points; at most {} are kept",
                self.series.len(),
                Self::SERIES_POINTS
            ));
        }
        None
    }

    /// One line for a person: `2 GPUs · memory 3.0 GiB (peak 4.0 GiB) ·
    /// utilization 45% (mean 40%) · 0.012 Wh · 20 GPU-seconds`.
    pub fn summary(&self) -> String {
        let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
        let mut parts = vec![
            format!("{} GPU{}", self.gpus, if self.gpus == 1 { "" } else { "s" }),
            format!(
                "memory {:.1} GiB (peak {:.1} GiB)",
                gib(self.memory_bytes),
                gib(self.memory_peak_bytes)
            ),
        ];
        match (self.utilization_percent, self.utilization_mean_percent) {
            (Some(now), Some(mean)) => parts.push(format!("utilization {now}% (mean {mean:.0}%)")),
            (Some(now), None) => parts.push(format!("utilization {now}%")),
            (None, Some(mean)) => parts.push(format!("utilization mean {mean:.0}%")),
            (None, None) => {}
        }
        match (self.energy_wh, self.energy_shared) {
            (Some(wh), false) => parts.push(format!("energy {wh:.3} Wh")),
            (Some(wh), true) => parts.push(format!(
                "energy {wh:.3} Wh while alone on its GPUs (shared for part of its run)"
            )),
            (None, true) => parts.push("energy unknown: its GPUs were shared".into()),
            (None, false) => {}
        }
        parts.push(format!("{:.0} GPU-seconds", self.gpu_seconds));
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used() -> TaskGpuUse {
        TaskGpuUse {
            gpus: 2,
            gpu_seconds: 20.4,
            memory_bytes: 3 << 30,
            memory_peak_bytes: 4 << 30,
            utilization_percent: Some(45),
            utilization_mean_percent: Some(40.2),
            energy_wh: Some(0.0125),
            since: 1,
            sampled_at: 2,
            ..TaskGpuUse::default()
        }
    }

    #[test]
    fn a_summary_names_every_figure() {
        assert_eq!(
            used().summary(),
            "2 GPUs · memory 3.0 GiB (peak 4.0 GiB) · utilization 45% (mean 40%) · energy 0.013 Wh · 20 GPU-seconds"
        );
        let shared = TaskGpuUse {
            energy_shared: true,
            ..used()
        };
        assert!(shared.summary().contains("shared for part of its run"));
    }

    #[test]
    fn the_series_limit_is_the_documented_one() {
        let schema = serde_json::to_value(schemars::schema_for!(TaskGpuUse)).unwrap();
        assert_eq!(
            schema["properties"]["series"]["maxItems"],
            TaskGpuUse::SERIES_POINTS
        );
    }

    #[test]
    fn nonsense_is_refused_in_words() {
        assert_eq!(used().problem(), None);
        let bad = TaskGpuUse {
            utilization_percent: Some(101),
            ..used()
        };
        assert!(bad.problem().unwrap().contains("percent"));
        let bad = TaskGpuUse {
            gpu_seconds: -1.0,
            ..used()
        };
        assert!(bad.problem().unwrap().contains("gpu_seconds"));
    }

    #[test]
    fn absent_figures_are_left_out_of_the_json() {
        let json = serde_json::to_value(TaskGpuUse::default()).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "gpu_seconds",
                "gpus",
                "memory_bytes",
                "memory_peak_bytes",
                "sampled_at",
                "since"
            ]
        );
    }
}

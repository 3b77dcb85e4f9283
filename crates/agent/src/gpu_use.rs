//! The GPU meter: what each task does with the GPUs it holds, from its
//! samples ([`crate::monitor::TaskGpuUse`], one NVML pass for all tasks)
//! to the figures the hub keeps ([`gantry_protocol::wire::TaskGpuUse`]).
//!
//! Per task it keeps memory now and at its peak, utilization now and its
//! mean, energy (the difference of its GPUs' energy counter between two
//! samples, counted only while nothing else used those GPUs at both: the
//! counter is the device's, not the task's), GPU-seconds (wall time since it
//! took its GPUs × how many) and a thinned series for a chart. A task that
//! gives its GPUs back is ended: its final figures are reported once, then
//! kept a while (with the series) for the desktop's task detail.
//!
//! Pure bookkeeping, no NVML: the loop that samples lives with the agent
//! (`crate::node`), so this is tested on made-up readings.

use std::collections::BTreeMap;
use std::sync::Mutex;

use gantry_protocol::wire::{GpuUsePoint, TaskGpuUse};

use crate::gpus::HeldGpus;
use crate::monitor::TaskGpuUse as Reading;

/// How many ended tasks' figures are kept for the desktop.
const ENDED_KEPT: usize = 32;

/// One task's figures so far.
#[derive(Debug, Clone)]
struct Tally {
    since: i64,
    gpus: u32,
    memory_now: u64,
    memory_peak: u64,
    utilization_now: Option<u32>,
    utilization_sum: u64,
    utilization_count: u64,
    /// The energy counter at the last sample, and whether nothing else used
    /// the GPUs then.
    last_counter: Option<(u64, bool)>,
    /// Millijoules counted while alone.
    energy_mj: u64,
    energy_known: bool,
    energy_shared: bool,
    sampled_at: i64,
    /// Set when it gave its GPUs back.
    ended_at: Option<i64>,
    /// Its final figures reached the hub.
    delivered: bool,
    series: Vec<GpuUsePoint>,
    /// A point is kept every `stride` samples; doubled when the series is full.
    stride: u32,
    skipped: u32,
}

impl Tally {
    fn new(held: &HeldGpus) -> Tally {
        Tally {
            since: held.since,
            gpus: held.uuids.len() as u32,
            memory_now: 0,
            memory_peak: 0,
            utilization_now: None,
            utilization_sum: 0,
            utilization_count: 0,
            last_counter: None,
            energy_mj: 0,
            energy_known: false,
            energy_shared: false,
            sampled_at: held.since,
            ended_at: None,
            delivered: false,
            series: Vec::new(),
            stride: 1,
            skipped: 0,
        }
    }

    /// Adds a sample taken at `at`; `shared`: another Gantry task holds one
    /// of its GPUs.
    fn record(&mut self, at: i64, reading: &Reading, shared: bool) {
        self.sampled_at = at;
        self.memory_now = reading.memory_bytes;
        self.memory_peak = self.memory_peak.max(reading.memory_bytes);
        self.utilization_now = reading.utilization_percent;
        if let Some(percent) = reading.utilization_percent {
            self.utilization_sum += u64::from(percent);
            self.utilization_count += 1;
        }
        let alone = !shared && !reading.others;
        match (self.last_counter, reading.energy_millijoules) {
            (Some((before, was_alone)), Some(now)) => {
                if was_alone && alone && now >= before {
                    self.energy_mj += now - before;
                } else if now >= before {
                    // Someone else's share is in this difference.
                    self.energy_shared = true;
                }
                // A counter that went back (the driver reloaded) starts again.
                self.energy_known = true;
            }
            (None, Some(_)) => self.energy_known = true,
            _ => {}
        }
        if !alone {
            self.energy_shared = true;
        }
        self.last_counter = reading.energy_millijoules.map(|now| (now, alone));
        self.add_point(GpuUsePoint {
            at,
            memory_bytes: reading.memory_bytes,
            utilization_percent: reading.utilization_percent,
        });
    }

    /// Keeps the series within [`TaskGpuUse::SERIES_POINTS`], evenly thinned.
    fn add_point(&mut self, point: GpuUsePoint) {
        self.skipped += 1;
        if self.skipped < self.stride {
            return;
        }
        self.skipped = 0;
        if self.series.len() == TaskGpuUse::SERIES_POINTS {
            let mut keep = false;
            self.series.retain(|_| {
                keep = !keep;
                keep
            });
            self.stride *= 2;
        }
        self.series.push(point);
    }

    /// The figures as of `now` (its end, once ended), with its series or not.
    fn report(&self, now: i64, series: bool) -> TaskGpuUse {
        let until = self.ended_at.unwrap_or(now);
        TaskGpuUse {
            gpus: self.gpus,
            gpu_seconds: (until - self.since).max(0) as f64 / 1000.0 * f64::from(self.gpus),
            memory_bytes: self.memory_now,
            memory_peak_bytes: self.memory_peak,
            utilization_percent: self.utilization_now,
            utilization_mean_percent: (self.utilization_count > 0)
                .then(|| self.utilization_sum as f64 / self.utilization_count as f64),
            energy_wh: self
                .energy_known
                .then(|| self.energy_mj as f64 / 3_600_000.0),
            energy_shared: self.energy_shared,
            since: self.since,
            sampled_at: self.sampled_at.max(self.since),
            ended: self.ended_at.is_some(),
            series: if series {
                self.series.clone()
            } else {
                Vec::new()
            },
        }
    }
}

/// Every GPU task's figures, running and lately ended. One per agent; safe
/// to share (a std mutex: nothing awaits while holding it).
#[derive(Debug, Default)]
pub struct GpuMeter {
    tallies: Mutex<BTreeMap<String, Tally>>,
}

impl GpuMeter {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Tally>> {
        self.tallies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lines the tallies up with who holds GPUs now (`holdings`, at `now`):
    /// a new holder gets a tally, one that gave its GPUs back is ended.
    /// Returns the holders not sampled yet, so the caller samples at once.
    pub fn settle(&self, holdings: &[HeldGpus], now: i64) -> usize {
        let mut tallies = self.lock();
        for (id, tally) in tallies.iter_mut() {
            if tally.ended_at.is_none() && !holdings.iter().any(|h| &h.task_id == id) {
                tally.ended_at = Some(now);
            }
        }
        let mut fresh = 0;
        for held in holdings {
            let tally = tallies
                .entry(held.task_id.clone())
                .or_insert_with(|| Tally::new(held));
            if tally.ended_at.is_some() {
                // Ended and taken again (released, then run here again): a new run.
                *tally = Tally::new(held);
            }
            fresh += usize::from(tally.series.is_empty() && tally.last_counter.is_none());
        }
        let ended: Vec<(i64, String)> = tallies
            .iter()
            .filter_map(|(id, t)| Some((t.ended_at?, id.clone())))
            .collect();
        if ended.len() > ENDED_KEPT {
            let mut ended = ended;
            ended.sort();
            for (_, id) in &ended[..ended.len() - ENDED_KEPT] {
                tallies.remove(id);
            }
        }
        fresh
    }

    /// Adds one sample per task, taken at `at`: (task id, its reading,
    /// whether another Gantry task holds one of its GPUs).
    pub fn record(&self, at: i64, readings: &[(String, Reading, bool)]) {
        let mut tallies = self.lock();
        for (id, reading, shared) in readings {
            if let Some(tally) = tallies.get_mut(id).filter(|t| t.ended_at.is_none()) {
                tally.record(at, reading, *shared);
            }
        }
    }

    /// What the next heartbeat carries: every running task's figures, and
    /// each ended task's final ones until [`GpuMeter::delivered`]; without
    /// series (a chart's points stay here, for the desktop), so a report
    /// is a few hundred bytes.
    pub fn reports(&self, now: i64) -> BTreeMap<String, TaskGpuUse> {
        self.lock()
            .iter()
            .filter(|(_, t)| !t.delivered)
            .map(|(id, t)| (id.clone(), t.report(now, false)))
            .collect()
    }

    /// The hub took `sent`: the ended ones among them are not sent again.
    pub fn delivered(&self, sent: &BTreeMap<String, TaskGpuUse>) {
        let mut tallies = self.lock();
        for (id, report) in sent {
            if let Some(tally) = tallies.get_mut(id)
                && report.ended
            {
                tally.delivered = true;
            }
        }
    }

    /// One task's figures with their series, running or lately ended.
    pub fn task(&self, task_id: &str, now: i64) -> Option<TaskGpuUse> {
        self.lock().get(task_id).map(|t| t.report(now, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn held(id: &str, gpus: usize, since: i64) -> HeldGpus {
        HeldGpus {
            task_id: id.into(),
            uuids: (0..gpus).map(|i| format!("GPU-{i}")).collect(),
            since,
            shared: false,
        }
    }

    fn reading(memory: u64, percent: u32, energy: u64) -> Reading {
        Reading {
            memory_bytes: memory,
            utilization_percent: Some(percent),
            energy_millijoules: Some(energy),
            others: false,
        }
    }

    #[test]
    fn figures_follow_the_samples() {
        let meter = GpuMeter::default();
        assert_eq!(meter.settle(&[held("t", 2, 1_000)], 1_000), 1);
        meter.record(
            2_000,
            &[("t".into(), reading(2 * GIB, 40, 10_000_000), false)],
        );
        assert_eq!(meter.settle(&[held("t", 2, 1_000)], 2_000), 0);
        meter.record(
            3_000,
            &[("t".into(), reading(5 * GIB, 80, 13_600_000), false)],
        );
        meter.record(
            4_000,
            &[("t".into(), reading(3 * GIB, 60, 17_200_000), false)],
        );
        let now = meter.reports(11_000).remove("t").unwrap();
        assert_eq!(
            (now.memory_bytes, now.memory_peak_bytes),
            (3 * GIB, 5 * GIB)
        );
        assert_eq!(now.utilization_percent, Some(60));
        assert_eq!(now.utilization_mean_percent, Some(60.0));
        assert_eq!(
            now.energy_wh,
            Some(2.0),
            "7 200 000 mJ after the first sample = 2 Wh"
        );
        assert_eq!(now.gpu_seconds, 20.0, "10 s × 2 GPUs");
        assert!(!now.ended && !now.energy_shared);
        assert!(now.series.is_empty(), "a running task's report is cheap");
        assert_eq!(meter.task("t", 11_000).unwrap().series.len(), 3);
    }

    #[test]
    fn energy_counts_only_while_alone() {
        let meter = GpuMeter::default();
        meter.settle(&[held("t", 1, 0)], 0);
        meter.record(1, &[("t".into(), reading(GIB, 10, 1_000), false)]);
        meter.record(2, &[("t".into(), reading(GIB, 10, 2_000), true)]);
        meter.record(3, &[("t".into(), reading(GIB, 10, 3_000), false)]);
        meter.record(4, &[("t".into(), reading(GIB, 10, 4_000), false)]);
        let mut foreign = reading(GIB, 10, 9_000);
        foreign.others = true;
        meter.record(5, &[("t".into(), foreign, false)]);
        let used = meter.task("t", 5).unwrap();
        assert_eq!(used.energy_wh, Some(1_000.0 / 3_600_000.0));
        assert!(used.energy_shared);
    }

    #[test]
    fn a_gpu_without_an_energy_counter_says_nothing_of_energy() {
        let meter = GpuMeter::default();
        meter.settle(&[held("t", 1, 0)], 0);
        let mut mig = reading(GIB, 10, 0);
        mig.energy_millijoules = None;
        meter.record(1, &[("t".into(), mig.clone(), false)]);
        meter.record(2, &[("t".into(), mig, false)]);
        assert_eq!(meter.task("t", 2).unwrap().energy_wh, None);
    }

    #[test]
    fn an_ended_task_is_reported_once() {
        let meter = GpuMeter::default();
        meter.settle(&[held("t", 1, 0)], 0);
        meter.record(1_000, &[("t".into(), reading(GIB, 50, 0), false)]);
        meter.settle(&[], 30_000);
        let sent = meter.reports(99_000);
        let last = &sent["t"];
        assert!(last.ended);
        assert_eq!(last.gpu_seconds, 30.0, "until it gave its GPUs back");
        assert!(last.series.is_empty());
        meter.delivered(&sent);
        assert!(meter.reports(99_000).is_empty());
        assert!(
            meter.task("t", 99_000).unwrap().ended,
            "kept for the desktop"
        );
        // Taken again (released, then run here again): a new run.
        meter.settle(&[held("t", 1, 100_000)], 100_000);
        assert!(!meter.reports(100_000)["t"].ended);
    }

    #[test]
    fn the_series_is_thinned_evenly() {
        let meter = GpuMeter::default();
        meter.settle(&[held("t", 1, 0)], 0);
        for at in 0..1_000 {
            meter.record(at, &[("t".into(), reading(GIB, 1, 0), false)]);
        }
        let series = meter.task("t", 1_000).unwrap().series;
        assert!(series.len() <= TaskGpuUse::SERIES_POINTS && series.len() > 60);
        let gaps: Vec<i64> = series.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps.iter().all(|g| *g == gaps[0]), "{gaps:?}");
        assert_eq!(series[0].at, 0);
    }

    #[test]
    fn ended_tasks_are_forgotten_past_a_few() {
        let meter = GpuMeter::default();
        for i in 0..40 {
            let id = format!("t{i}");
            meter.settle(&[held(&id, 1, i)], i);
            meter.settle(&[], i + 1);
        }
        assert!(meter.task("t0", 100).is_none());
        assert!(meter.task("t39", 100).is_some());
    }
}

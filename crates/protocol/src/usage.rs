//! Usage accounting: what one task used on its node (wall time, CPU, GPUs,
//! energy, bytes moved), as the agent measured it and sent with the report
//! that ends the task's run there, final or a release back to the queue
//! ([`crate::wire::TaskEvent`]), and a node's totals by day, as
//! the hub adds them up (`GET /v1/nodes/{id}/usage`, `gantry node usage`).
//!
//! Figures are in base units (seconds, watt-hours, bytes) so that a
//! spreadsheet can add them; people see hours, kWh and GB.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::wire::Millis;

/// What one task used on the node that ran it, from when that node took the
/// task until its final report or its release (one run); the hub shows a
/// task's runs added up ([`TaskUsage::add_run`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskUsage {
    /// Seconds from when the node took the task until it ended there.
    #[schemars(range(min = 0.0))]
    pub wall_seconds: f64,
    /// CPU time of its containers (user + system, from their cgroups), in
    /// seconds; absent where it was not measured (the process executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cpu_seconds: Option<f64>,
    /// Each GPU it held, with how long and the energy it used meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuUsage>,
    /// Image bytes the node downloaded for it (its pulls; 0 when the images
    /// were there already).
    #[serde(default)]
    pub bytes_pulled: u64,
    /// Bytes it sent to the hub: its results (`outputs`) uploaded as blobs and
    /// its checkpoint folder when released. Its log is not counted.
    #[serde(default)]
    pub bytes_uploaded: u64,
    /// Bytes it fetched from the hub: its input blobs and checkpoint folder
    /// (blobs already cached on the node are not counted).
    #[serde(default)]
    pub bytes_downloaded: u64,
}

/// One GPU a task held.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuUsage {
    /// `GPU-…` (or `MIG-…`).
    pub uuid: String,
    /// NVML's index on the node.
    pub index: u32,
    /// Seconds the task held it.
    #[schemars(range(min = 0.0))]
    pub seconds: f64,
    /// The difference of the GPU's energy counter (NVML's total energy
    /// consumption) between taking it and giving it back, in watt-hours. A
    /// GPU shared by several tasks counts its whole difference for each of
    /// them. Absent where the GPU keeps no counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub energy_wh: Option<f64>,
}

impl TaskUsage {
    /// GPU-seconds over all its GPUs.
    pub fn gpu_seconds(&self) -> f64 {
        self.gpus.iter().map(|g| g.seconds).sum()
    }

    /// Watt-hours over all its GPUs that count energy.
    pub fn energy_wh(&self) -> f64 {
        self.gpus.iter().filter_map(|g| g.energy_wh).sum()
    }

    /// Adds a later run's usage (a task released and run again), so a task
    /// shows what all its runs used: times and bytes add up, a GPU held in
    /// both runs adds its seconds and energy, CPU is measured if either run
    /// measured it.
    pub fn add_run(&mut self, run: &TaskUsage) {
        self.wall_seconds += run.wall_seconds;
        self.cpu_seconds = match (self.cpu_seconds, run.cpu_seconds) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        for gpu in &run.gpus {
            match self.gpus.iter_mut().find(|g| g.uuid == gpu.uuid) {
                Some(held) => {
                    held.seconds += gpu.seconds;
                    held.energy_wh = match (held.energy_wh, gpu.energy_wh) {
                        (None, None) => None,
                        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
                    };
                }
                None => self.gpus.push(gpu.clone()),
            }
        }
        self.bytes_pulled += run.bytes_pulled;
        self.bytes_uploaded += run.bytes_uploaded;
        self.bytes_downloaded += run.bytes_downloaded;
    }

    /// Why these figures cannot be a node's honest report, in words.
    pub fn problem(&self) -> Option<String> {
        let fine = |v: f64| v.is_finite() && v >= 0.0;
        if !fine(self.wall_seconds) || self.cpu_seconds.is_some_and(|c| !fine(c)) {
            return Some("usage: wall_seconds and cpu_seconds must be 0 or more".into());
        }
        if self
            .gpus
            .iter()
            .any(|g| !fine(g.seconds) || g.energy_wh.is_some_and(|e| !fine(e)))
        {
            return Some("usage: a GPU's seconds and energy_wh must be 0 or more".into());
        }
        None
    }

    /// One line for a person: `wall 12 s · CPU 3.4 s · 1 GPU 12 GPU-s · 0.010 Wh · pulled 2.0 MB`.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("wall {:.1} s", self.wall_seconds)];
        if let Some(cpu) = self.cpu_seconds {
            parts.push(format!("CPU {cpu:.1} s"));
        }
        if !self.gpus.is_empty() {
            parts.push(format!(
                "{} GPU{} {:.0} GPU-s",
                self.gpus.len(),
                if self.gpus.len() == 1 { "" } else { "s" },
                self.gpu_seconds()
            ));
            if self.gpus.iter().any(|g| g.energy_wh.is_some()) {
                parts.push(format!("{:.3} Wh", self.energy_wh()));
            }
        }
        let mb = |b: u64| b as f64 / 1e6;
        for (what, bytes) in [
            ("pulled", self.bytes_pulled),
            ("uploaded", self.bytes_uploaded),
            ("downloaded", self.bytes_downloaded),
        ] {
            if bytes > 0 {
                parts.push(format!("{what} {:.1} MB", mb(bytes)));
            }
        }
        parts.join(" · ")
    }
}

/// Sums of task usage, over a node and a span of time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageTotals {
    /// How many tasks ended in the span with usage reported.
    pub tasks: u64,
    /// How many runs the node gave back to the queue (it stepped aside for
    /// its person) in the span; their figures count below, as the node's
    /// work, though the tasks ended elsewhere or later.
    #[serde(default)]
    pub released_runs: u64,
    /// Wall seconds, summed over tasks.
    pub wall_seconds: f64,
    /// CPU seconds, summed over tasks.
    pub cpu_seconds: f64,
    /// GPU-seconds (each GPU held counts), summed over tasks.
    pub gpu_seconds: f64,
    /// GPU energy in watt-hours, summed over tasks.
    pub energy_wh: f64,
    /// Image bytes pulled.
    pub bytes_pulled: u64,
    /// Result and checkpoint bytes uploaded.
    pub bytes_uploaded: u64,
    /// Input and checkpoint bytes downloaded.
    pub bytes_downloaded: u64,
}

impl UsageTotals {
    /// Adds one task's usage.
    pub fn add(&mut self, usage: &TaskUsage) {
        self.tasks += 1;
        self.add_figures(usage);
    }

    /// Adds a run the node gave back to the queue: its figures, but not as
    /// a task that ended.
    pub fn add_released(&mut self, usage: &TaskUsage) {
        self.released_runs += 1;
        self.add_figures(usage);
    }

    /// Adds other totals (a total over nodes or days).
    pub fn add_totals(&mut self, other: &UsageTotals) {
        self.tasks += other.tasks;
        self.released_runs += other.released_runs;
        self.wall_seconds += other.wall_seconds;
        self.cpu_seconds += other.cpu_seconds;
        self.gpu_seconds += other.gpu_seconds;
        self.energy_wh += other.energy_wh;
        self.bytes_pulled += other.bytes_pulled;
        self.bytes_uploaded += other.bytes_uploaded;
        self.bytes_downloaded += other.bytes_downloaded;
    }

    fn add_figures(&mut self, usage: &TaskUsage) {
        self.wall_seconds += usage.wall_seconds;
        self.cpu_seconds += usage.cpu_seconds.unwrap_or(0.0);
        self.gpu_seconds += usage.gpu_seconds();
        self.energy_wh += usage.energy_wh();
        self.bytes_pulled += usage.bytes_pulled;
        self.bytes_uploaded += usage.bytes_uploaded;
        self.bytes_downloaded += usage.bytes_downloaded;
    }
}

/// One day's usage on a node (days in UTC, by when the tasks ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// What the tasks that ended that day used.
    pub totals: UsageTotals,
}

/// A node's usage since a time: `GET /v1/nodes/{id}/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeUsage {
    /// The node's id.
    pub node: String,
    /// The start of the span (Unix ms); tasks that ended at or after it count.
    pub since: Millis,
    /// Everything since then.
    pub totals: UsageTotals,
    /// Day by day, oldest first; days without tasks are left out.
    pub days: Vec<UsageDay>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_every_gpu_and_byte() {
        let usage = TaskUsage {
            wall_seconds: 10.0,
            cpu_seconds: Some(4.0),
            gpus: vec![
                GpuUsage {
                    uuid: "GPU-a".into(),
                    index: 0,
                    seconds: 10.0,
                    energy_wh: Some(1.5),
                },
                GpuUsage {
                    uuid: "GPU-b".into(),
                    index: 1,
                    seconds: 10.0,
                    energy_wh: None,
                },
            ],
            bytes_pulled: 5,
            bytes_uploaded: 6,
            bytes_downloaded: 7,
        };
        let mut totals = UsageTotals::default();
        totals.add(&usage);
        totals.add(&usage);
        assert_eq!(totals.tasks, 2);
        assert_eq!(totals.gpu_seconds, 40.0);
        assert_eq!(totals.energy_wh, 3.0);
        assert_eq!(totals.bytes_downloaded, 14);
        assert!(usage.summary().contains("2 GPUs 20 GPU-s"));
        assert_eq!(usage.problem(), None);
        totals.add_released(&usage);
        assert_eq!((totals.tasks, totals.released_runs), (2, 1));
        assert_eq!(totals.gpu_seconds, 60.0);
        let mut twice = totals.clone();
        twice.add_totals(&totals);
        assert_eq!((twice.tasks, twice.released_runs), (4, 2));
        assert_eq!((twice.gpu_seconds, twice.bytes_downloaded), (120.0, 42));

        // Two runs of one task: the GPU held in both adds up, a new one joins.
        let mut both = usage.clone();
        let mut later = usage.clone();
        later.cpu_seconds = None;
        later.gpus[1].uuid = "GPU-c".into();
        both.add_run(&later);
        assert_eq!(both.wall_seconds, 20.0);
        assert_eq!(both.cpu_seconds, Some(4.0));
        assert_eq!(both.gpus.len(), 3);
        assert_eq!(
            (both.gpus[0].seconds, both.gpus[0].energy_wh),
            (20.0, Some(3.0))
        );
        assert_eq!(both.gpus[1].energy_wh, None);
        assert_eq!(both.bytes_pulled, 10);

        let bad = TaskUsage {
            wall_seconds: f64::NAN,
            ..usage
        };
        assert!(bad.problem().is_some());
    }
}

impl crate::wire::TaskEvent {
    /// The usage a report that ends a run on a node carries, if any (a
    /// final report, or a release back to the queue).
    pub fn usage(&self) -> Option<&TaskUsage> {
        use crate::wire::TaskEvent;
        match self {
            TaskEvent::Finished { usage, .. }
            | TaskEvent::Failed { usage, .. }
            | TaskEvent::Canceled { usage, .. }
            | TaskEvent::Released { usage, .. } => usage.as_ref(),
            _ => None,
        }
    }
}

/// `YYYY-MM-DD` of a moment, in UTC: the day a task's usage counts on.
pub fn utc_day(ms: Millis) -> String {
    let t = crate::clock_text::UtcTime::from_millis(ms);
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What [`parse_since`] reads, as a regular expression (for the API's
/// document): a date, or a date and time with `Z` or an offset.
pub const SINCE_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\
([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$";

/// Reads a `since`: a date (`2026-12-01`, midnight UTC) or an RFC 3339 time
/// (`2026-12-01T08:00:00Z`, `2026-12-01T09:00:00+01:00`), as Unix ms. The
/// error is a sentence saying what to write instead.
pub fn parse_since(text: &str) -> Result<Millis, String> {
    let bad = || {
        format!(
            "{text:?} is not a date or time: write a date such as 2026-12-01 \
             or an RFC 3339 time such as 2026-12-01T08:00:00Z"
        )
    };
    let text = text.trim();
    let number = |s: &str| -> Result<i64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (date, time) = match text.find(['T', 't', ' ']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let mut fields = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad());
    };
    let (year, month, day) = (number(y)?, number(m)?, number(d)?);
    if y.len() != 4 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        let (clock, offset_ms) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
            (clock, 0)
        } else {
            let at = time.rfind(['+', '-']).ok_or_else(bad)?;
            let (clock, zone) = time.split_at(at);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':').ok_or_else(bad)?;
            (clock, sign * (number(h)? * 3600 + number(m)? * 60) * 1000)
        };
        let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
        let parts: Vec<&str> = whole.split(':').collect();
        let [h, m, s] = parts[..] else {
            return Err(bad());
        };
        let (h, m, s) = (number(h)?, number(m)?, number(s)?);
        if h > 23 || m > 59 || s > 60 {
            return Err(bad());
        }
        let millis = if fraction.is_empty() {
            0
        } else {
            number(&format!("{fraction:0<3}")[..3])?
        };
        ms += (h * 3600 + m * 60 + s) * 1000 + millis - offset_ms;
    }
    Ok(ms)
}

#[cfg(test)]
mod since_tests {
    use super::*;

    #[test]
    fn dates_and_rfc3339_times_read_as_unix_ms() {
        assert_eq!(parse_since("1970-01-02"), Ok(86_400_000));
        assert_eq!(parse_since("2026-12-01"), Ok(1_796_083_200_000));
        assert_eq!(utc_day(1_796_083_200_000), "2026-12-01");
        assert_eq!(
            parse_since("2026-12-01T09:30:00+01:00"),
            Ok(1_796_083_200_000 + 8 * 3_600_000 + 30 * 60_000)
        );
        assert_eq!(
            parse_since("2026-12-01T08:30:00.25Z"),
            Ok(1_796_083_200_000 + 8 * 3_600_000 + 30 * 60_000 + 250)
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-12-01T25:00:00Z",
            "12/01/2026",
        ] {
            assert!(parse_since(bad).unwrap_err().contains("RFC 3339"), "{bad}");
        }
    }
}

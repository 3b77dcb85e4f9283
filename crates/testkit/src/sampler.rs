//! A process tree's footprint over time: its resident memory and CPU, read
//! from /proc once a second.
//!
//! A program like the desktop app is many processes (WebKitGTK's web and
//! network processes run beside it), so the tree is what is measured: the
//! root and everything under it by parent pid, found again at each sample
//! since helpers come and go.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::procfs::{
    TICKS_PER_SECOND, load_average, machine_busy_ticks, memory, proc_field, program_name,
    read_stat, tree,
};

/// A process tree's footprint over the sampled seconds.
#[derive(Debug, Default)]
pub struct Footprint {
    /// How many 1 s samples were read.
    pub samples: usize,
    /// How long the samples spanned.
    pub secs: f64,
    /// Processes in the tree at the last sample.
    pub processes: usize,
    /// Distinct processes seen in the tree over the samples.
    pub processes_seen: usize,
    /// The sum of every process's VmRSS: its mean and max over the samples, kB.
    pub rss_mean_kb: f64,
    pub rss_max_kb: u64,
    /// The sum of every process's Pss (shared pages split among their
    /// users), mean over the samples, kB.
    pub pss_mean_kb: f64,
    /// CPU time over the samples, as % of one core.
    pub cpu_percent: f64,
    /// The same, by program, the largest RSS first.
    pub programs: Vec<Program>,
    /// The 1-minute load average as the samples started and ended.
    pub load_start: f64,
    pub load_end: f64,
    /// The whole machine's busy CPU time over the samples (this tree, the
    /// display, the hub, the sampling and anything else), as % of one core.
    pub machine_percent: f64,
}

/// One program's share of a footprint.
#[derive(Debug, Default, Clone)]
pub struct Program {
    pub name: String,
    /// Processes of it at the last sample.
    pub count: usize,
    pub rss_mean_kb: f64,
    pub pss_mean_kb: f64,
    pub cpu_percent: f64,
}

/// One process in one sample.
#[derive(Debug)]
struct Seen {
    pid: u32,
    name: String,
    ticks: u64,
    rss_kb: u64,
    pss_kb: u64,
}

/// Every live process in `root`'s tree now.
fn snapshot(root: u32) -> Vec<Seen> {
    tree(root)
        .into_iter()
        .filter_map(|pid| {
            let stat = read_stat(pid)?;
            // A zombie has exited: it holds no memory and its CPU time went
            // to its parent's children's time, which is not counted here.
            let rss_kb = memory(pid)?.rss_kb;
            let pss_kb =
                proc_field(Path::new(&format!("/proc/{pid}/smaps_rollup")), "Pss").unwrap_or(0);
            Some(Seen {
                pid,
                name: program_name(pid),
                ticks: stat.ticks,
                rss_kb,
                pss_kb,
            })
        })
        .collect()
}

/// What the samples gathered, before they are summed up.
#[derive(Debug, Default)]
struct Tally {
    /// Each process's ticks at its first sample (0 for one born after the first).
    first_ticks: HashMap<u32, u64>,
    /// Each process's name and ticks at its last sample.
    last: HashMap<u32, (String, u64)>,
    /// The tree's total RSS and PSS at each sample.
    rss_totals: Vec<u64>,
    pss_totals: Vec<u64>,
    /// By program: RSS and PSS summed over the samples, and the last count.
    by_name: BTreeMap<String, (u64, u64, usize)>,
    /// Processes in the tree at the last sample.
    processes: usize,
}

impl Tally {
    fn add(&mut self, seen: &[Seen], first: bool) {
        for (_, (_, _, count)) in self.by_name.iter_mut() {
            *count = 0;
        }
        for process in seen {
            let before = if first { process.ticks } else { 0 };
            self.first_ticks.entry(process.pid).or_insert(before);
            self.last
                .insert(process.pid, (process.name.clone(), process.ticks));
            let entry = self.by_name.entry(process.name.clone()).or_default();
            entry.0 += process.rss_kb;
            entry.1 += process.pss_kb;
            entry.2 += 1;
        }
        self.rss_totals.push(seen.iter().map(|p| p.rss_kb).sum());
        self.pss_totals.push(seen.iter().map(|p| p.pss_kb).sum());
        self.processes = seen.len();
    }
}

/// Reads `root`'s tree once a second for `seconds` seconds (`seconds + 1`
/// samples) and sums it up; `None` when the tree is gone at a sample. CPU:
/// each process's ticks at its last sample less those at its first, or less
/// none for one born after the first sample.
pub async fn sample(root: u32, seconds: u64) -> Option<Footprint> {
    let load_start = load_average();
    let mut machine_start = machine_busy_ticks();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut started = Instant::now();
    let mut tally = Tally::default();
    for n in 0..=seconds {
        every.tick().await;
        let seen = snapshot(root);
        if seen.is_empty() {
            return None;
        }
        if n == 0 {
            started = Instant::now();
            machine_start = machine_busy_ticks();
        }
        tally.add(&seen, n == 0);
    }
    let secs = started.elapsed().as_secs_f64();
    let machine_ticks = machine_busy_ticks().saturating_sub(machine_start);
    let samples = tally.rss_totals.len();
    let mean = |total: u64| total as f64 / samples as f64;
    let percent = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / secs * 100.0;
    let mut cpu_by_name: HashMap<&str, u64> = HashMap::new();
    for (pid, (name, ticks)) in &tally.last {
        let used = ticks.saturating_sub(tally.first_ticks.get(pid).copied().unwrap_or(0));
        *cpu_by_name.entry(name.as_str()).or_default() += used;
    }
    let mut programs: Vec<Program> = tally
        .by_name
        .iter()
        .map(|(name, &(rss, pss, count))| Program {
            name: name.clone(),
            count,
            rss_mean_kb: mean(rss),
            pss_mean_kb: mean(pss),
            cpu_percent: percent(cpu_by_name.get(name.as_str()).copied().unwrap_or(0)),
        })
        .collect();
    programs.sort_by(|a, b| b.rss_mean_kb.total_cmp(&a.rss_mean_kb));
    Some(Footprint {
        samples,
        secs,
        processes: tally.processes,
        processes_seen: tally.last.len(),
        rss_mean_kb: mean(tally.rss_totals.iter().sum()),
        rss_max_kb: tally.rss_totals.iter().copied().max().unwrap_or(0),
        pss_mean_kb: mean(tally.pss_totals.iter().sum()),
        cpu_percent: percent(cpu_by_name.values().sum()),
        programs,
        load_start,
        load_end: load_average(),
        machine_percent: percent(machine_ticks),
    })
}

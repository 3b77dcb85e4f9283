//! What Linux's /proc says of a process and of the machine: memory, CPU
//! time, state, parent, name.
//!
//! Read as text, with no libc binding, and forgiving: a process can end
//! between two reads, so every reading is an `Option` and a vanished
//! process reads as gone rather than as an error.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Linux reports CPU time in /proc in ticks of 1/100 s (USER_HZ).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// A `Name:  123 kB` field of a /proc file, in kB (or the bare number).
pub fn proc_field(path: &Path, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A process's resident memory, in kB: now (VmRSS) and its peak so far (VmHWM).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

impl Memory {
    /// The higher of the two: the kernel updates VmHWM lazily, so a peak
    /// sampled over time takes both.
    pub fn peak(self) -> u64 {
        self.rss_kb.max(self.hwm_kb)
    }
}

/// The process's memory; `None` once it has exited (a zombie has no VmRSS).
pub fn memory(pid: u32) -> Option<Memory> {
    let status = PathBuf::from(format!("/proc/{pid}/status"));
    Some(Memory {
        rss_kb: proc_field(&status, "VmRSS")?,
        hwm_kb: proc_field(&status, "VmHWM").unwrap_or(0),
    })
}

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: u32,
    /// utime + stime, in ticks.
    pub ticks: u64,
}

/// Parses /proc/PID/stat; the command name is in parentheses and may hold
/// spaces and parentheses itself, so the fields are read after the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, after) = text.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), …, utime (14), stime (15).
    let number = |n: usize| fields.get(n)?.parse::<u64>().ok();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: u32::try_from(number(1)?).ok()?,
        ticks: number(11)? + number(12)?,
    })
}

/// The process's /proc/PID/stat, while it exists.
pub fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether a process runs: it exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    read_stat(pid).is_some_and(|stat| stat.state != 'Z' && stat.state != 'X')
}

/// `root` and every process under it, parents first; empty when `root` is gone.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut exists = false;
    for pid in pids() {
        if let Some(stat) = read_stat(pid) {
            exists |= pid == root;
            children.entry(stat.ppid).or_default().push(pid);
        }
    }
    descendants(root, exists, &children)
}

/// Every process id in /proc now.
fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
}

/// `root` and what lies under it in a parent → children map, parents first.
fn descendants(root: u32, exists: bool, children: &HashMap<u32, Vec<u32>>) -> Vec<u32> {
    if !exists {
        return Vec::new();
    }
    let mut found = vec![root];
    let mut seen = HashSet::from([root]);
    let mut next = 0;
    while next < found.len() {
        let pid = found[next];
        next += 1;
        for &child in children.get(&pid).into_iter().flatten() {
            if seen.insert(child) {
                found.push(child);
            }
        }
    }
    found
}

/// A program's name: its executable's file name (WebKitGTK's helpers have
/// names longer than the 15 characters of /proc/PID/comm), else comm.
pub fn program_name(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|exe| {
            let name = exe.file_name()?.to_string_lossy().into_owned();
            // An executable replaced on disk reads `name (deleted)`.
            Some(name.trim_end_matches(" (deleted)").to_owned())
        })
        .or_else(|| comm(pid))
        .unwrap_or_else(|| "?".to_owned())
}

/// The process's /proc/PID/comm: its name, cut to 15 characters.
fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|comm| comm.trim().to_owned())
}

/// The 1-minute load average, or NaN where /proc/loadavg cannot be read.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The machine's busy CPU time so far, in ticks over all cores: the first
/// line of /proc/stat less its idle and iowait columns.
pub fn machine_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|line| line.starts_with("cpu ")) else {
        return 0;
    };
    busy_ticks(line)
}

/// The busy ticks of a `cpu  user nice system idle iowait irq softirq steal
/// guest guest_nice` line; guest time is already inside user and nice.
fn busy_ticks(line: &str) -> u64 {
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    total.saturating_sub(idle)
}

/// Whether this process runs as root, read from the owner of `/proc/self`.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_read_after_the_name() {
        let line = "4242 (Web Content (x)) S 4200 4242 4200 0 -1 4194560 900 0 0 0 \
                    150 37 0 0 20 0 12 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                ppid: 4200,
                ticks: 187
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn a_tree_holds_every_descendant_once() {
        let children = HashMap::from([
            (1, vec![10, 20]),
            (10, vec![11]),
            (11, vec![12]),
            (20, vec![]),
        ]);
        assert_eq!(descendants(10, true, &children), vec![10, 11, 12]);
        assert_eq!(descendants(1, true, &children), vec![1, 10, 20, 11, 12]);
        assert_eq!(descendants(10, false, &children), Vec::<u32>::new());
        // A loop (pid reuse between reads) ends.
        let looped = HashMap::from([(1, vec![2]), (2, vec![1])]);
        assert_eq!(descendants(1, true, &looped), vec![1, 2]);
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        assert_eq!(busy_ticks("cpu  100 5 50 1000 20 3 2 1 0 0"), 161);
        assert_eq!(busy_ticks("cpu"), 0);
    }
}

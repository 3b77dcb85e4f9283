//! docs/benchmarks.md: each benchmark rewrites its own section there, stamped
//! with when, at which commit and on what machine it ran, and leaves the
//! prose around it alone; and the arithmetic its tables share.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use gantry_testkit::procfs::proc_field;

/// The file the results go to, relative to the workspace root (where
/// `cargo xtask bench` runs the benchmarks).
pub const RECORD: &str = "docs/benchmarks.md";

/// Replaces the section between the markers in docs/benchmarks.md that
/// begins with `section`'s first line, or appends it, so that a benchmark
/// rewrites only its own results and leaves the prose around them alone.
pub fn record(section: &str) -> Result<()> {
    let path = Path::new(RECORD);
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let new = replace_section(&old, section);
    std::fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))
}

fn replace_section(old: &str, section: &str) -> String {
    let begin = section.lines().next().unwrap_or_default();
    let end = section.lines().last().unwrap_or_default();
    if let Some(start) = old.find(begin)
        && let Some(len) = old[start..].find(end)
    {
        return format!(
            "{}{}{}",
            &old[..start],
            section.trim_end(),
            &old[start + len + end.len()..]
        );
    }
    format!("{}\n\n{}\n", old.trim_end(), section.trim_end())
}

/// When and from what a result was recorded: `2026-11-23 03:10 UTC at commit abc1234`.
pub fn stamp() -> String {
    let say = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{} at commit {}",
        say("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        say("git", &["rev-parse", "--short", "HEAD"])
    )
}

/// The machine in one line: CPU model, cores and memory, which is what a
/// reader needs to compare a later run with this one.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_kib = proc_field(Path::new("/proc/meminfo"), "MemTotal").unwrap_or(0);
    format!(
        "{cpu}, {cores} cores (nproc), {:.1} GiB memory",
        memory_kib as f64 / (1024.0 * 1024.0)
    )
}

/// The value below which `percent` of `sorted` lies (nearest rank).
pub fn percentile(sorted: &[f64], percent: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `values`, smallest first, for [`percentile`].
pub fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Milliseconds, for tables.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_takes_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn a_section_is_replaced_in_place_or_appended() {
        let section = "<!-- hub begin -->\nnew\n<!-- hub end -->\n";
        let old = "# B\n\nintro\n\n<!-- hub begin -->\nold\n<!-- hub end -->\n\nafter\n";
        assert_eq!(
            replace_section(old, section),
            "# B\n\nintro\n\n<!-- hub begin -->\nnew\n<!-- hub end -->\n\nafter\n"
        );
        assert_eq!(
            replace_section("# B\n", section),
            "# B\n\n<!-- hub begin -->\nnew\n<!-- hub end -->\n"
        );
    }
}

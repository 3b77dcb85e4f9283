//! `cargo xtask bench`: load tests that print their results against the raw
//! floor measured in the same run, and record them in docs/benchmarks.md.

mod agent;
mod desktop;
mod hub;
mod recovery;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};

/// What `cargo xtask bench hub` measures unless told otherwise: the node
/// counts of a small and a large site, and enough tasks for a stable p99.
const DEFAULT_NODES: &[usize] = &[100, 1_000];
const DEFAULT_TASKS: usize = 200;

/// The file the results go to, relative to the workspace root.
const RECORD: &str = "docs/benchmarks.md";

/// Runs the benchmark named in `args[0]` with the options after it.
pub fn run(args: &[String]) -> Result<()> {
    let Some((name, options)) = args.split_first() else {
        bail!("name a benchmark: `cargo xtask bench hub`; see `cargo xtask help`");
    };
    match name.as_str() {
        "hub" => {
            let options = HubOptions::parse(options)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the benchmark's runtime")?;
            let results = runtime.block_on(async {
                // Dropping the benchmark's future on Ctrl-C drops its guards,
                // which kill the hub and delete its data folder.
                tokio::select! {
                    results = hub::run(&options) => results,
                    _ = tokio::signal::ctrl_c() => bail!("interrupted"),
                }
            })?;
            if options.record {
                record(&hub::report(&options, &results)?)?;
                say(format!("recorded in {RECORD}"));
            }
            Ok(())
        }
        "agent" => {
            let mut idle_secs = 60;
            let mut record_it = true;
            let mut args = options.iter();
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--idle" => {
                        idle_secs = args
                            .next()
                            .context("--idle needs seconds")?
                            .parse()
                            .context("--idle needs seconds")?;
                    }
                    "--no-record" => record_it = false,
                    other => {
                        bail!("unknown option `{other}` for `bench agent`; see `cargo xtask help`")
                    }
                }
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the benchmark's runtime")?;
            let figures = runtime.block_on(async {
                tokio::select! {
                    figures = agent::run(idle_secs) => figures,
                    _ = tokio::signal::ctrl_c() => bail!("interrupted"),
                }
            })?;
            let section = agent::report(&figures);
            println!("{section}");
            if record_it {
                record(&section)?;
                say(format!("recorded in {RECORD}"));
            }
            Ok(())
        }
        "recovery" => {
            let options = recovery::Options::parse(options)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the benchmark's runtime")?;
            let figures = runtime.block_on(async {
                tokio::select! {
                    figures = recovery::run(&options) => figures,
                    _ = tokio::signal::ctrl_c() => bail!("interrupted"),
                }
            })?;
            let section = recovery::report(&options, &figures);
            println!("{section}");
            if options.record {
                record(&section)?;
                say(format!("recorded in {RECORD}"));
            }
            Ok(())
        }
        "desktop" => {
            let options = desktop::Options::parse(options)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the benchmark's runtime")?;
            let figures = runtime.block_on(async {
                // Dropping the benchmark's future on Ctrl-C drops its guards,
                // which stop the app, its private desktop and the hub.
                tokio::select! {
                    figures = desktop::run(&options) => figures,
                    _ = tokio::signal::ctrl_c() => bail!("interrupted"),
                }
            })?;
            let section = desktop::report(&figures);
            println!("{section}");
            if options.record {
                record(&section)?;
                say(format!("recorded in {RECORD}"));
            }
            Ok(())
        }
        other => {
            bail!("unknown benchmark `{other}`; there are `hub`, `agent`, `recovery` and `desktop`")
        }
    }
}

/// The options of `cargo xtask bench hub`.
#[derive(Debug)]
pub struct HubOptions {
    /// One run per node count, each against a fresh hub.
    pub nodes: Vec<usize>,
    /// How many tasks each run submits.
    pub tasks: usize,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl HubOptions {
    fn parse(args: &[String]) -> Result<HubOptions> {
        let mut options = HubOptions {
            nodes: DEFAULT_NODES.to_vec(),
            tasks: DEFAULT_TASKS,
            record: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--nodes" => {
                    options.nodes = value()?
                        .split(',')
                        .map(|n| {
                            n.trim()
                                .parse()
                                .with_context(|| format!("--nodes: `{n}` is not a count"))
                        })
                        .collect::<Result<_>>()?;
                }
                "--tasks" => options.tasks = value()?.parse().context("--tasks needs a count")?,
                "--no-record" => options.record = false,
                other => bail!("unknown option `{other}` for `bench hub`; see `cargo xtask help`"),
            }
        }
        if options.nodes.is_empty() || options.nodes.contains(&0) || options.tasks == 0 {
            bail!("--nodes and --tasks need counts above zero");
        }
        Ok(options)
    }
}

/// Replaces the section between the markers in docs/benchmarks.md that
/// begins with `section`'s first line, or appends it, so that a benchmark
/// rewrites only its own results and leaves the prose around them alone.
fn record(section: &str) -> Result<()> {
    let path = exec::workspace_root().join(RECORD);
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let new = replace_section(&old, section);
    std::fs::write(&path, new).with_context(|| format!("cannot write {}", path.display()))
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
fn stamp() -> String {
    let say = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .current_dir(exec::workspace_root())
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

/// The value below which `percent` of `sorted` lies (nearest rank).
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds, for tables.
fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The machine in one line: CPU model, cores and memory, which is what a
/// reader needs to compare a later run with this one.
fn machine() -> String {
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

/// A `Name:  123 kB` field of a /proc file, in kB.
fn proc_field(path: &Path, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
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

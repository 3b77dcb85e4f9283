//! `gantry-bench NAME [OPTIONS]`: Gantry's benchmarks, each printing its
//! figures beside a floor measured in the same run and recording them in
//! docs/benchmarks.md.
//!
//! `cargo xtask bench NAME` runs it: xtask builds what is measured and sets
//! up the machine, and this binary only measures. It runs in the workspace
//! root (the record is `docs/benchmarks.md` there) with:
//! - `GANTRY_BENCH_CLI`, `GANTRY_BENCH_DESKTOP`: the release `gantry` and
//!   `gantry-desktop` to measure;
//! - `DOCKER_HOST`, `GANTRY_TEST_IMAGE`: the Docker engine and the test
//!   image, as the tests get them;
//! - `GANTRY_BENCH_DOCKER`: that engine in words, for the desktop's record.
//!
//! `gantry-bench --check NAME [OPTIONS]` only reads the options, so that
//! xtask finds a mistyped one before it builds anything.

mod agent;
mod console;
mod desktop;
mod disk;
mod disk_soak;
mod hub;
mod record;
mod recovery;
mod tasks_list;
mod transfer;
mod yielding;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// One benchmark with its options.
#[derive(Debug)]
enum Bench {
    Hub(hub::Options),
    Agent(agent::Options),
    Recovery(recovery::Options),
    Desktop(desktop::Options),
    Transfer(transfer::Options),
    Console(console::Options),
    TasksList(tasks_list::Options),
    Yield(yielding::Options),
    Disk(disk::Options),
}

impl Bench {
    fn parse(name: &str, options: &[String]) -> Result<Bench> {
        Ok(match name {
            "hub" => Bench::Hub(hub::Options::parse(options)?),
            "agent" => Bench::Agent(agent::Options::parse(options)?),
            "recovery" => Bench::Recovery(recovery::Options::parse(options)?),
            "desktop" => Bench::Desktop(desktop::Options::parse(options)?),
            "transfer" => Bench::Transfer(transfer::Options::parse(options)?),
            "console" => Bench::Console(console::Options::parse(options)?),
            "tasks_list" => Bench::TasksList(tasks_list::Options::parse(options)?),
            "yield" => Bench::Yield(yielding::Options::parse(options)?),
            "disk" => Bench::Disk(disk::Options::parse(options)?),
            other => bail!(
                "unknown benchmark `{other}`; there are `hub`, `agent`, `recovery`, `desktop`, `transfer`, `tasks_list`, `console`, `yield` and `disk`"
            ),
        })
    }

    /// Measures; returns the section for docs/benchmarks.md.
    async fn measure(&self) -> Result<String> {
        match self {
            Bench::Hub(options) => hub::report(options, &hub::run(options).await?),
            Bench::Agent(options) => Ok(agent::report(&agent::run(options).await?)),
            Bench::Recovery(options) => {
                Ok(recovery::report(options, &recovery::run(options).await?))
            }
            Bench::Desktop(options) => Ok(desktop::report(&desktop::run(options).await?)),
            Bench::Transfer(options) => Ok(transfer::report(&transfer::run(options).await?)),
            Bench::Console(options) => Ok(console::report(&console::run(options).await?)),
            Bench::TasksList(options) => Ok(tasks_list::report(&tasks_list::run(options).await?)),
            Bench::Yield(options) => Ok(yielding::report(&yielding::run(options).await?)),
            Bench::Disk(options) => disk::measure(options).await,
        }
    }

    /// Whether the section is written into docs/benchmarks.md.
    fn records(&self) -> bool {
        match self {
            Bench::Hub(options) => options.record,
            Bench::Agent(options) => options.record,
            Bench::Recovery(options) => options.record,
            Bench::Desktop(options) => options.record,
            Bench::Transfer(options) => options.record,
            Bench::Console(options) => options.record,
            Bench::TasksList(options) => options.record,
            Bench::Yield(options) => options.record,
            Bench::Disk(options) => options.record,
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (check, args) = match args.split_first() {
        Some((first, rest)) if first == "--check" => (true, rest),
        _ => (false, &args[..]),
    };
    let Some((name, options)) = args.split_first() else {
        bail!("name a benchmark: `cargo xtask bench hub`; see `cargo xtask help`");
    };
    let bench = Bench::parse(name, options)?;
    if check {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the benchmark's runtime")?;
    let section = runtime.block_on(async {
        // Dropping the benchmark's future on Ctrl-C or SIGTERM (which
        // xtask sends when it is interrupted) drops its guards, which stop
        // the hub, the agents and the app and delete their folders.
        tokio::select! {
            section = bench.measure() => section,
            signal = interrupted() => bail!("interrupted ({signal})"),
        }
    })?;
    // `bench hub` prints a summary line per node count as it goes instead.
    if !matches!(bench, Bench::Hub(_)) {
        println!("{section}");
    }
    if bench.records() {
        record::record(&section)?;
        say(format!("bench {name}: recorded in {}", record::RECORD));
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM, naming it.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Prints one line about what the benchmark is doing, on stderr, so that
/// stdout carries only the section it records.
fn say(message: impl std::fmt::Display) {
    eprintln!("{message}");
}

/// A release binary that `cargo xtask bench` built, named in `variable`.
fn built(variable: &str) -> Result<PathBuf> {
    std::env::var_os(variable)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .with_context(|| {
            format!(
                "{variable} is not set: run the benchmarks with `cargo xtask bench`, which builds what they measure"
            )
        })
}

/// Fails unless the Docker engine answers and holds the test image, which
/// `cargo xtask bench` provides.
fn docker_with_image() -> Result<()> {
    let image = gantry_testkit::image();
    let found = gantry_testkit::services::docker_command()
        .args(["image", "inspect", &image])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        bail!(
            "no Docker engine with {image} at DOCKER_HOST: run the benchmark with `cargo xtask bench`, which starts one"
        );
    }
    Ok(())
}

/// Runs `gantry ARGS --data-dir DATA` and returns its one line on stdout
/// (a token); killed if the benchmark is dropped meanwhile.
async fn hub_admin(gantry: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let command = gantry_testkit::children::hub_admin_command(gantry, data, args);
    let output = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run gantry {}", args.join(" ")))?;
    Ok(gantry_testkit::children::one_line(args, &output)?)
}

/// The last lines of a child's log, to append to an error: the folder it
/// lives in is removed when the run ends.
fn tail(log: &Path) -> String {
    let lines = gantry_testkit::tail(log, 15).unwrap_or_default();
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "\n  last lines of {}:\n    {}",
        log.file_name().unwrap_or_default().to_string_lossy(),
        lines.replace('\n', "\n    ")
    )
}

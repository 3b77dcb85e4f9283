//! `gantry drive`: the CLI's glue over `gantry-drive`. It parses the flags,
//! finds the hub as `gantry task` does, starts the program (the embedded
//! Python shim for `-c`, or the one after `--`), the monitor and the loop.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gantry_drive::{Board, Driver, Monitor, OnError, Settings, monitor, python};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Remote;

/// How long the monitor stays after the driver's work ended.
const MONITOR_LINGER: Duration = Duration::from_secs(2);

/// `gantry drive ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DriveArgs {
    #[command(subcommand)]
    command: Option<DriveCommand>,
    /// A Python file defining user_create(agent) and user_update(agent, jobs);
    /// run with python3 and the embedded gantry_client package.
    #[arg(short = 'c', value_name = "USERCODE.py", conflicts_with = "program")]
    code: Option<PathBuf>,
    /// At most this many jobs in flight (submitted and not ended).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_running: Option<u32>,
    /// When the user code fails: cancel the jobs that have not ended, or
    /// leave them running (the default: run the driver again with the same
    /// --name and it picks them up, so fixing the code costs no work done).
    #[arg(long, value_name = "cancel|leave", default_value = "leave")]
    on_error: OnError,
    /// Where the monitor page listens, HOST:PORT, or off.
    #[arg(long, value_name = "ADDR|off", default_value = "127.0.0.1:8666")]
    monitor: String,
    /// Cancel the driver's jobs when it is killed (POST /kill, gantry drive
    /// kill, agent.kill()); without it they are left running.
    #[arg(long)]
    cancel_on_kill: bool,
    /// Seconds to wait before asking for jobs again after an empty list.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    interval: Duration,
    /// The driver's name; its jobs carry it, and a driver started again
    /// with the same name picks them up [default: the file's name and a hash
    /// of its path, or of the program and its arguments].
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    remote: Remote,
    /// A program in any language speaking the JSON-lines protocol
    /// (docs/drive.md) on its stdin and stdout.
    #[arg(last = true, value_name = "PROGRAM [ARGS]")]
    program: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum DriveCommand {
    /// Stop the driver whose monitor listens at ADDR (as POST /kill with its
    /// token, read from the file the driver keeps on this machine).
    Kill {
        /// The monitor's address, e.g. 127.0.0.1:8666.
        addr: String,
    },
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("\"{text}\" is not a number of seconds, e.g. 5 or 0.5"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "{text} seconds: give more than 0 and at most 86400"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs `gantry drive`.
pub async fn run(args: DriveArgs) -> anyhow::Result<ExitCode> {
    let token_dir = token_dir()?;
    if let Some(DriveCommand::Kill { addr }) = &args.command {
        let said = monitor::kill(addr, &token_dir).await?;
        eprintln!("{said}");
        return Ok(ExitCode::SUCCESS);
    }
    let (program, name) = match program(&args) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let client = crate::task::client(&args.remote)?;
    let name = args.name.clone().unwrap_or(name);
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        eprintln!("error: --name {name:?}: give a name of printable characters, e.g. sweep-lr");
        return Ok(ExitCode::from(2));
    }
    let board = Arc::new(Mutex::new(Board::new(&name, client.server())));
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let kill = stop.child_token();
    let interrupt = stop.child_token();
    let monitor_url = if args.monitor == "off" {
        None
    } else {
        let monitor = match Monitor::bind(&args.monitor, &token_dir).await {
            Ok(monitor) => monitor,
            Err(error) => {
                eprintln!("error: {error}");
                return Ok(ExitCode::from(2));
            }
        };
        let url = monitor.url();
        eprintln!("drive {name}: monitor at {url}");
        monitor.spawn(board.clone(), kill.clone(), stop.clone(), &tracker);
        Some(url)
    };
    let signals = interrupt.clone();
    tracker.spawn(async move {
        tokio::select! {
            _ = crate::shutdown_signal() => signals.cancel(),
            _ = signals.cancelled() => {}
        }
    });
    let settings = Settings {
        client,
        ca_file: args.remote.ca_file.clone(),
        program,
        name,
        max_running: args.max_running.map(|n| n as usize),
        on_error: args.on_error,
        interval: args.interval,
        poll: Duration::from_millis(500),
        cancel_on_kill: args.cancel_on_kill,
        monitor_url,
    };
    let monitor_on = settings.monitor_url.is_some();
    let outcome = Driver::new(settings, board)
        .run(kill, interrupt.clone())
        .await;
    if monitor_on {
        // Open pages read every second: let them show the final states
        // before the monitor goes (and they say so).
        tokio::select! {
            _ = tokio::time::sleep(MONITOR_LINGER) => {}
            _ = interrupt.cancelled() => {}
        }
    }
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(ExitCode::from(outcome.code()))
}

/// The program to start and the driver's default name.
fn program(args: &DriveArgs) -> anyhow::Result<(tokio::process::Command, String)> {
    let (mut command, name) = match (&args.code, args.program.split_first()) {
        (Some(code), None) => {
            let code = std::fs::canonicalize(code)
                .with_context(|| format!("cannot read the user code {}", code.display()))?;
            let root = python::unpack(&cache_dir()?)
                .context("cannot write the embedded gantry_client package")?;
            let mut path = std::ffi::OsString::from(root.as_os_str());
            if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
                path.push(":");
                path.push(old);
            }
            let stem = code.file_stem().unwrap_or_default().to_string_lossy();
            let name = gantry_drive::default_name(&stem, &code.to_string_lossy());
            let mut command = tokio::process::Command::new("python3");
            command
                .args(["-m", "gantry_client.drive"])
                .arg(&code)
                .env("PYTHONPATH", path)
                .env("PYTHONUNBUFFERED", "1");
            (command, name)
        }
        (None, Some((program, rest))) => {
            let stem = Path::new(program)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy();
            let name = gantry_drive::default_name(&stem, &args.program.join("\0"));
            let mut command = tokio::process::Command::new(program);
            command.args(rest);
            (command, name)
        }
        _ => bail!(
            "say what makes the jobs: gantry drive -c usercode.py, or gantry drive -- PROGRAM [ARGS...] (see docs/drive.md)"
        ),
    };
    // The token reaches the program on its stdin (the hello line), never in its environment.
    command
        .env_remove("GANTRY_ADMIN_TOKEN")
        .env_remove("GANTRY_TOKEN");
    Ok((command, name))
}

/// Where monitor tokens are kept: `$XDG_RUNTIME_DIR/gantry`, else the host dir.
fn token_dir() -> anyhow::Result<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir).join("gantry")),
        None => crate::agent::local_host_dir(None, None),
    }
}

/// Where the embedded Python package is written: `$XDG_CACHE_HOME/gantry/drive`.
fn cache_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .context(
            "neither XDG_CACHE_HOME nor HOME is set; set one for the Python package's folder",
        )?;
    Ok(base.join("gantry").join("drive"))
}

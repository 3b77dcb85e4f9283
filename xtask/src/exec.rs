//! Running child processes: each step is announced, a wait notices Ctrl-C,
//! and a failure names the command that failed.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Set once the person presses Ctrl-C or something sends SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Prints one line about what xtask is doing, on stderr so that stdout
/// carries only what the tools themselves print.
pub fn say(message: impl std::fmt::Display) {
    eprintln!("xtask: {message}");
}

/// Catches SIGINT and SIGTERM for the rest of the run.
///
/// Without this, either signal would end xtask before any `Drop` ran, and a
/// PostgreSQL started with `pg_ctl` (which puts the server in its own session,
/// out of reach of the terminal's Ctrl-C) would be left running. With it,
/// xtask records the interruption, stops its current child, and unwinds
/// normally so that every guard cleans up.
pub fn catch_interrupts() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("cannot start the runtime that watches for Ctrl-C")?;
    // The handlers are installed here, before this function returns, so no
    // signal can slip in between start-up and the watcher thread's first poll.
    let (mut int, mut term) = runtime
        .block_on(async {
            io::Result::Ok((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("cannot catch Ctrl-C")?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                if !INTERRUPTED.swap(true, Ordering::SeqCst) {
                    say("interrupted; stopping the current step and cleaning up");
                }
            }
        });
    });
    Ok(())
}

/// Whether the person asked xtask to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The workspace's root folder, where every cargo command runs.
///
/// `cargo xtask` tells xtask where its manifest is at run time; the path
/// compiled in is only the fallback, because clones that share a target dir
/// (as CI's do) also share this binary, and the clone it was built in may be gone.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

/// A `cargo` command in the workspace root, using the same cargo that started
/// xtask (cargo tells its children where it is in `CARGO`).
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Where `name` is on PATH, as an absolute path, or `None` when no folder on
/// PATH holds an executable file of that name.
///
/// Looking first, rather than letting the spawn fail, lets the caller say
/// which package or tool to install instead of "No such file or directory".
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(name))
        .find(|candidate| executable(candidate))
        .and_then(|found| std::path::absolute(found).ok())
}

/// Whether `path` is a file that someone may execute.
pub fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Whether xtask runs as root, read from the owner of `/proc/self` so that no
/// libc binding is needed.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|meta| meta.uid() == 0)
        .unwrap_or(false)
}

/// The command line as a person would type it, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` to the end and fails unless it exits with status 0.
pub fn run(command: &mut Command) -> Result<()> {
    let child = command
        .spawn()
        .with_context(|| format!("cannot start `{}`", describe(command)))?;
    let status = wait(child)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` with its stdout captured and its stderr shown, and stops
/// it when the person interrupts xtask (as `exec::run` does for the others).
pub fn output(command: &mut Command) -> Result<(std::process::ExitStatus, Vec<u8>)> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start `{}`", describe(command)))?;
    let mut stdout = child.stdout.take().context("stdout was piped")?;
    // A thread drains stdout, so the child never blocks on a full pipe
    // while this thread watches for an interrupt.
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
        bytes
    });
    let status = wait(child)?;
    Ok((status, reader.join().unwrap_or_default()))
}

/// Runs a `cargo build` command with cargo's JSON report on stdout, and
/// returns the executables it built by target name, read from that report
/// so that any target dir works.
pub fn build(command: &mut Command) -> Result<HashMap<String, PathBuf>> {
    command.arg("--message-format=json-render-diagnostics");
    let (status, stdout) = output(command)?;
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    if !status.success() {
        // cargo renders rustc's errors on stderr, but reports its own (a
        // failed build script, say) only in these messages.
        let rendered: Vec<_> = messages
            .iter()
            .filter_map(|m| m["message"]["rendered"].as_str())
            .collect();
        bail!(
            "`{}` failed ({status}):\n{}",
            describe(command),
            rendered.join("\n")
        );
    }
    Ok(messages
        .iter()
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?;
            let executable = m["executable"].as_str()?;
            Some((name.to_owned(), PathBuf::from(executable)))
        })
        .collect())
}

/// Waits for `child`, but gives up when the person interrupts: the child is
/// asked to stop with SIGTERM, then killed if it is still there after a few
/// seconds, so that xtask can go on to clean up.
pub fn wait(mut child: Child) -> Result<ExitStatus> {
    loop {
        if let Some(status) = child
            .try_wait()
            .context("cannot wait for a child process")?
        {
            // A child that Ctrl-C ended reports only the signal; "interrupted"
            // tells the person it was their doing.
            if interrupted() && !status.success() {
                bail!("interrupted");
            }
            return Ok(status);
        }
        if interrupted() {
            // `kill` sends SIGTERM, which lets cargo and test binaries exit on
            // their own terms; `Child::kill` would send SIGKILL straight away.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            bail!("interrupted");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A duration as people read it in a summary: `0.4s`, `25.1s`, `3m12s`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!(
            "{}m{:02}s",
            duration.as_secs() / 60,
            duration.as_secs() % 60
        )
    }
}

//! `gantry drive` as a child process of a test: the built binary against a
//! [`World`]'s hub, with its own runtime and cache folders (so its monitor
//! token file and Python package are the test's), its output kept in files
//! the test reads while it runs.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::children::Process;
use crate::world::World;

/// The built `gantry` beside the test binary (cargo build -p gantry-cli
/// first), or `GANTRY_BIN` when set (a copy of it, where several
/// checkouts share one target folder).
pub fn built_gantry() -> PathBuf {
    if let Some(bin) = std::env::var_os("GANTRY_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let cli = exe
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("gantry");
    assert!(
        cli.exists(),
        "{} is missing: cargo build -p gantry-cli",
        cli.display()
    );
    cli
}

/// A running `gantry drive`.
#[derive(Debug)]
pub struct DriveRun {
    pub process: Process,
    /// Its `XDG_RUNTIME_DIR` (monitor token files in `gantry/`).
    pub runtime_dir: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// How a drive ended: its status, stdout and stderr.
#[derive(Debug)]
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl DriveRun {
    /// The command `gantry drive --server URL ARGS` with the admin token in
    /// the environment (as a person's shell has it), run in `dir`.
    pub fn command(world: &World, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(built_gantry());
        command
            .arg("drive")
            .args(["--server", &world.url])
            .args(args)
            .env("GANTRY_ADMIN_TOKEN", &world.admin_token)
            .env("XDG_RUNTIME_DIR", dir.join("runtime"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("GANTRY_TEST_IMAGE", crate::image())
            .current_dir(dir)
            .stdin(Stdio::null());
        command
    }

    /// Starts `gantry drive ARGS` in `dir`; `tag` names its output files.
    pub fn start(world: &World, dir: &Path, tag: &str, args: &[&str]) -> DriveRun {
        let stdout = dir.join(format!("{tag}.stdout"));
        let stderr = dir.join(format!("{tag}.stderr"));
        let mut command = DriveRun::command(world, dir, args);
        command
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        DriveRun {
            process: Process::spawn(&mut command).unwrap(),
            runtime_dir: dir.join("runtime"),
            stdout,
            stderr,
        }
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits (`secs` at most) until its stderr holds `needle`.
    pub async fn said(&self, needle: &str, secs: u64) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gantry drive did not say {needle:?} within {secs} s: {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The monitor's address as it said it on stderr: `http://HOST:PORT`.
    pub async fn monitor(&self) -> String {
        let text = self.said("monitor at ", 60).await;
        let at = text.find("monitor at ").unwrap() + "monitor at ".len();
        text[at..].lines().next().unwrap().trim().to_owned()
    }

    /// Waits (`secs` at most) for it to end by itself.
    pub async fn ended(mut self, secs: u64) -> Ended {
        let status = self.process.exited(secs).await;
        let stderr = self.stderr();
        let status =
            status.unwrap_or_else(|| panic!("gantry drive did not end within {secs} s: {stderr}"));
        Ended {
            status,
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr,
        }
    }
}

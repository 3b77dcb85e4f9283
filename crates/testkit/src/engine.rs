//! Docker engines beyond the shared one: a private engine a test may stop
//! and start, and the removal of what a killed agent left on an engine.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::services::{docker_command, image, required};

/// Removes every container (with its volumes) and network that carries one
/// of `labels` (`gantry.task=ID`, `gantry.node=NAME`) from the engine at
/// `docker_host` (`None`: `DOCKER_HOST`'s). An agent removes its own when
/// it stops; a killed one cannot, and a failed test must not leave them.
pub fn remove_labeled(docker_host: Option<&str>, labels: &[String]) {
    let docker = || {
        let mut command = docker_command();
        if let Some(host) = docker_host {
            command.env("DOCKER_HOST", host);
        }
        command.stderr(Stdio::null());
        command
    };
    for label in labels {
        let filter = format!("label={label}");
        for kind in ["container", "network"] {
            let all: &[&str] = if kind == "container" { &["-a"] } else { &[] };
            let Ok(listed) = docker()
                .args([kind, "ls", "-q", "--filter", &filter])
                .args(all)
                .output()
            else {
                continue;
            };
            let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let remove: &[&str] = if kind == "container" {
                &["container", "rm", "-f", "-v"]
            } else {
                &["network", "rm"]
            };
            let _ = docker()
                .args(remove)
                .args(&ids)
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// A Docker engine of one test's own, in a short folder under /tmp (a unix
/// socket's path is limited to 108 bytes), so that it can be restarted without
/// touching the engine other tests use. Dropping it stops it and removes it.
///
/// It runs in a network namespace of its own (`unshare --net`): a dockerd
/// started with `--bridge none` deletes the host's `docker0` bridge, which
/// breaks every container the shared engine starts afterwards.
#[derive(Debug)]
pub struct PrivateEngine {
    dir: Option<tempfile::TempDir>,
    dockerd: Option<Child>,
    starts: usize,
}

impl PrivateEngine {
    /// Whether this machine can run one: root, `dockerd` and `unshare`.
    /// Skips, or fails with `GANTRY_REQUIRE_SERVICES=1`, otherwise.
    pub fn possible() -> bool {
        let runs = |program: &str| {
            Command::new(program)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let why = if !nix::unistd::geteuid().is_root() {
            "not root"
        } else if !runs("dockerd") {
            "no dockerd binary"
        } else if !runs("unshare") {
            "no unshare binary (util-linux)"
        } else {
            return true;
        };
        assert!(
            !required(),
            "a private Docker engine needs root, dockerd and unshare ({why}), and GANTRY_REQUIRE_SERVICES=1"
        );
        eprintln!("SKIPPED: a private Docker engine needs root, dockerd and unshare ({why})");
        false
    }

    /// Starts the engine and loads the test image into it from the shared one.
    pub fn start() -> PrivateEngine {
        let dir = tempfile::Builder::new()
            .prefix("gfd")
            .tempdir_in("/tmp")
            .unwrap();
        let mut engine = PrivateEngine {
            dir: Some(dir),
            dockerd: None,
            starts: 0,
        };
        engine.launch();
        let mut save = docker_command()
            .args(["save", &image()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = docker_command()
            .arg("load")
            .env("DOCKER_HOST", engine.host())
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save {}", image());
        assert!(
            load.status.success(),
            "docker load into the private engine: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        engine
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// The engine's address, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir().join("sock").display())
    }

    /// Starts dockerd (always with the same arguments) and waits until it answers.
    fn launch(&mut self) {
        assert!(self.dockerd.is_none());
        self.starts += 1;
        let dir = self.dir().to_owned();
        let log = File::options()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
            .unwrap();
        // unshare execs dockerd: the child's pid is dockerd's.
        let child = Command::new("unshare")
            .args(["--net", "dockerd"])
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .arg("--host")
            .arg(self.host())
            // No bridge and no iptables: nothing shared with the machine's other engines.
            .args(["--bridge", "none", "--iptables=false", "--ip-masq=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.dockerd = Some(child);
        let started = Instant::now();
        loop {
            let info = docker_command()
                .args(["info", "--format", "{{.ServerVersion}}"])
                .env("DOCKER_HOST", self.host())
                .output()
                .unwrap();
            if info.status.success() {
                return;
            }
            let exited = self.dockerd.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && started.elapsed() < Duration::from_secs(60),
                "the private dockerd (start {}) did not answer ({exited:?}):\n{}",
                self.starts,
                crate::tail(&dir.join("dockerd.log"), 30).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops dockerd with SIGTERM (it stops its containers) and waits; SIGKILL
    /// after a minute, and its containerd too.
    pub fn stop(&mut self) {
        let Some(mut dockerd) = self.dockerd.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(dockerd.id() as i32), Signal::SIGTERM);
        let started = Instant::now();
        while dockerd.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(60) {
                eprintln!("the private dockerd ignored SIGTERM for 60s; killing it");
                let _ = dockerd.kill();
                let _ = dockerd.wait();
                let pid = self.dir().join("exec/containerd/containerd.pid");
                if let Some(pid) = std::fs::read_to_string(pid)
                    .ok()
                    .and_then(|p| p.trim().parse::<i32>().ok())
                {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the engine and starts it again on the same folders and socket.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if let Err(error) = dir.close() {
                eprintln!("cannot remove {}: {error}", path.display());
            }
        }
    }
}

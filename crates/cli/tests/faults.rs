//! Fault injection for "never lose a line": the real `gantry hub serve` and
//! `gantry agent start` processes and the real Docker engine, killed, stopped
//! and restarted under a running task. Each case compares the hub's copy of the
//! task's log with the exact bytes its command printed.
//!
//! Like the other end-to-end tests they skip without a Docker engine holding the
//! test image, and fail instead with `GANTRY_REQUIRE_SERVICES=1`.
//! `docker_engine_restart_mid_task` also needs root and `dockerd`: it restarts
//! a private engine of its own, never the shared one.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use gantry_tests::{docker, docker_ready, image, required};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// How long one wait may take: generous, since these run beside other tests.
const DEADLINE: Duration = Duration::from_secs(120);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// What `seq FROM TO` prints.
fn seq(from: u64, to: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(((to + 1 - from) * 8) as usize);
    for n in from..=to {
        writeln!(out, "{n}").unwrap();
    }
    out
}

/// The last `n` lines of a text file, or a note that it cannot be read.
fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, signal).unwrap();
}

/// Where the first difference between two logs is, in words.
fn describe_mismatch(actual: &[u8], expected: &[u8]) -> String {
    let at = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()));
    let line = expected[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let window = |bytes: &[u8]| {
        let start = at.saturating_sub(60);
        let end = (at + 60).min(bytes.len());
        bytes[start.min(end)..end].escape_ascii().to_string()
    };
    let lines = |bytes: &[u8]| bytes.iter().filter(|&&b| b == b'\n').count();
    format!(
        "the hub holds {} bytes ({} lines), expected {} bytes ({} lines); \
         the first difference is at byte {at} (expected line {line})\n  \
         hub:      …{}…\n  expected: …{}…",
        actual.len(),
        lines(actual),
        expected.len(),
        lines(expected),
        window(actual),
        window(expected),
    )
}

/// A hub process and an agent process, each of which a test may kill and start
/// again on the same address, data dir and host dir.
struct Rig {
    test: &'static str,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`, fixed by the first start so restarts reuse it.
    addr: String,
    url: String,
    admin: String,
    node: String,
    hub: Option<Child>,
    hub_starts: usize,
    agent: Option<Child>,
    agent_starts: usize,
    /// Whether the agent's exit is a failure (false once a test signals it).
    agent_must_live: bool,
    agent_args: Vec<String>,
    /// The engine the agent and the checks use; `None`: `DOCKER_HOST` as given.
    docker_host: Option<String>,
    tasks: Vec<String>,
}

impl Rig {
    /// Makes the tokens and starts the hub on a free port (not the agent).
    fn new(test: &'static str, agent_args: &[&str], docker_host: Option<String>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut rig = Rig {
            test,
            dir,
            addr: String::new(),
            url: String::new(),
            admin: String::new(),
            node: String::new(),
            hub: None,
            hub_starts: 0,
            agent: None,
            agent_starts: 0,
            agent_must_live: false,
            agent_args: agent_args.iter().map(|a| (*a).to_owned()).collect(),
            docker_host,
            tasks: Vec::new(),
        };
        rig.node = rig.hub_admin(&["hub", "node", "add", "faulty"]);
        rig.admin = rig.hub_admin(&["hub", "token", "create", "--admin", "tester"]);
        rig.start_hub();
        rig
    }

    fn hub_data(&self) -> PathBuf {
        self.dir.path().join("hub")
    }

    fn host_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    /// Runs a `gantry hub …` administration command; returns its stdout line.
    fn hub_admin(&self, args: &[&str]) -> String {
        let output = Command::new(GANTRY)
            .args(args)
            .arg("--data-dir")
            .arg(self.hub_data())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "gantry {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Starts `gantry hub serve`: on port 0 the first time, then on the same
    /// address (retrying a few seconds, should the port still be held).
    fn start_hub(&mut self) {
        assert!(self.hub.is_none(), "the hub runs already");
        let listen = if self.addr.is_empty() {
            "127.0.0.1:0".to_owned()
        } else {
            self.addr.clone()
        };
        let started = Instant::now();
        loop {
            self.hub_starts += 1;
            let stderr_path = self
                .dir
                .path()
                .join(format!("hub-{}.stderr", self.hub_starts));
            let mut child = Command::new(GANTRY)
                .args(["hub", "serve", "--listen", &listen])
                .args(["--heartbeat", "1", "--offline-after", "30", "--data-dir"])
                .arg(self.hub_data())
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(File::create(&stderr_path).unwrap())
                .spawn()
                .unwrap();
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut first = String::new();
            let _ = stdout.read_line(&mut first);
            if let Some(url) = first.trim().strip_prefix("listening on ") {
                // Keep reading what else it prints, so the pipe never closes under it.
                std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
                let addr = url.strip_prefix("http://").unwrap().to_owned();
                if !self.addr.is_empty() {
                    assert_eq!(addr, self.addr, "the hub came back on another address");
                }
                self.url = url.to_owned();
                self.addr = addr;
                self.hub = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{}: the hub did not start on {listen}:\n{}",
                self.test,
                tail(&stderr_path, 20)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// SIGKILLs the hub and waits for it.
    fn kill_hub(&mut self) {
        let mut hub = self.hub.take().expect("the hub runs");
        hub.kill().unwrap();
        hub.wait().unwrap();
    }

    /// Starts `gantry agent start` on the rig's host dir.
    fn start_agent(&mut self) {
        assert!(self.agent.is_none(), "the agent runs already");
        self.agent_starts += 1;
        let stderr = File::create(
            self.dir
                .path()
                .join(format!("agent-{}.stderr", self.agent_starts)),
        )
        .unwrap();
        let mut command = Command::new(GANTRY);
        command
            .args(["agent", "start", "--server", &self.url, "--name", "faulty"])
            .arg("--host-dir")
            .arg(self.host_dir())
            .args(&self.agent_args)
            .env("GANTRY_TOKEN", &self.node)
            .env("XDG_CONFIG_HOME", self.dir.path())
            .env("GANTRY_PULL_ALWAYS", "false")
            .env("GANTRY_STOP_GRACE", "3")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        self.agent = Some(command.spawn().unwrap());
        self.agent_must_live = true;
    }

    fn agent_pid(&self) -> u32 {
        self.agent.as_ref().expect("the agent runs").id()
    }

    /// Whether the agent process started last is still running.
    fn agent_alive(&mut self) -> bool {
        self.agent
            .as_mut()
            .is_some_and(|agent| agent.try_wait().unwrap().is_none())
    }

    /// SIGKILLs the agent and waits for it.
    fn kill_agent(&mut self) {
        self.agent_must_live = false;
        let mut agent = self.agent.take().expect("the agent runs");
        agent.kill().unwrap();
        agent.wait().unwrap();
    }

    /// Sends SIGTERM to the agent; it is expected to exit by itself.
    fn terminate_agent(&mut self) {
        self.agent_must_live = false;
        signal(
            self.agent.as_ref().expect("the agent runs"),
            Signal::SIGTERM,
        );
    }

    /// Waits for the agent to exit by itself within `limit`.
    fn agent_exits_within(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.agent.as_mut().unwrap().try_wait().unwrap() {
                self.agent = None;
                return status;
            }
            if started.elapsed() > limit {
                self.fail(&format!(
                    "the agent did not exit within {}s",
                    limit.as_secs()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The agent's peak resident memory (VmHWM), in bytes.
    fn agent_peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.agent_pid())).unwrap();
        let line = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .expect("/proc/PID/status has VmHWM");
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kib * 1024
    }

    /// Runs the `gantry` command against the hub as the admin.
    fn gantry(&self, args: &[&str]) -> Output {
        Command::new(GANTRY)
            .args(args)
            .env("GANTRY_SERVER", &self.url)
            .env("GANTRY_ADMIN_TOKEN", &self.admin)
            .env("GANTRY_HOST_DIR", self.host_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Submits a job that runs `script` with `sh -c` in the test image.
    fn submit_sh(&mut self, script: &str) -> String {
        self.submit(&json!({
            "name": self.test,
            "image": image(),
            "command": ["sh", "-c", script],
            "pull": "missing",
        }))
    }

    fn submit(&mut self, job: &Value) -> String {
        let path = self
            .dir
            .path()
            .join(format!("job-{}.json", self.tasks.len()));
        std::fs::write(&path, serde_json::to_vec_pretty(job).unwrap()).unwrap();
        let output = self.gantry(&["task", "submit", path.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "task submit: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        self.tasks.push(id.clone());
        id
    }

    /// The task as the hub shows it; `None` while the hub does not answer.
    fn task(&self, id: &str) -> Option<Value> {
        let output = self.gantry(&["task", "show", id, "--json"]);
        if !output.status.success() {
            return None;
        }
        serde_json::from_slice(&output.stdout).ok()
    }

    /// Waits (within [`DEADLINE`]) until `check` holds for the task.
    fn wait_task(&mut self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.wait_task_within(id, what, DEADLINE, check)
    }

    fn wait_task_within(
        &mut self,
        id: &str,
        what: &str,
        limit: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        let mut last = None;
        loop {
            if let Some(task) = self.task(id) {
                if check(&task) {
                    return task;
                }
                last = Some(task);
            }
            if self.agent_must_live && !self.agent_alive() {
                self.fail(&format!(
                    "the agent exited while task {id} was to come {what}"
                ));
            }
            if started.elapsed() > limit {
                let last = last.map_or_else(|| "no answer from the hub".into(), |t| t.to_string());
                self.fail(&format!(
                    "task {id} did not come {what} within {}s; last seen: {last}",
                    limit.as_secs()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the hub holds some of the task's log.
    fn wait_log_started(&mut self, id: &str) {
        self.wait_task(id, "to have a log", |task| {
            task["log_size"].as_u64().unwrap_or(0) > 0
        });
    }

    /// Waits until the task reaches a final state and returns it.
    fn finished(&mut self, id: &str) -> Value {
        self.wait_task(id, "to end", |task| {
            matches!(
                task["state"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            )
        })
    }

    /// Fails unless the task is in `state` with `exit_code`.
    fn expect_end(&self, task: &Value, state: &str, exit_code: Option<i64>) {
        if task["state"] != state || task["exit_code"].as_i64() != exit_code {
            self.fail(&format!(
                "expected {state} with exit code {exit_code:?}, got {} with {} ({})",
                task["state"], task["exit_code"], task["reason"]
            ));
        }
    }

    /// The task's log as the hub holds it, through `gantry task logs`.
    fn log(&self, id: &str) -> Vec<u8> {
        let output = self.gantry(&["task", "logs", id]);
        if !output.status.success() {
            self.fail(&format!(
                "gantry task logs {id}: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        output.stdout
    }

    /// Fails unless the hub holds exactly `expected` as the task's log; keeps
    /// the hub's copy in the temp folder for a look when it differs.
    fn expect_log(&self, id: &str, expected: &[u8]) {
        let actual = self.log(id);
        if actual != expected {
            let kept = std::env::temp_dir().join(format!("gantry-faults-{}-{id}.log", self.test));
            let note = match std::fs::write(&kept, &actual) {
                Ok(()) => format!("the hub's copy is kept in {}", kept.display()),
                Err(error) => format!("cannot keep the hub's copy: {error}"),
            };
            self.fail(&format!(
                "the log of task {id} is not exact: {}\n{note}",
                describe_mismatch(&actual, expected)
            ));
        }
    }

    /// Runs the docker CLI against the rig's engine; returns its trimmed stdout.
    fn docker(&self, args: &[&str]) -> String {
        match &self.docker_host {
            None => docker(args),
            Some(host) => {
                let output = Command::new("docker")
                    .args(args)
                    .env("DOCKER_HOST", host)
                    .stdin(Stdio::null())
                    .output()
                    .expect("the docker CLI runs");
                String::from_utf8_lossy(&output.stdout).trim().to_owned()
            }
        }
    }

    /// The ids of the task's containers, running or not.
    fn containers(&self, id: &str) -> Vec<String> {
        self.docker(&["ps", "-aq", "--filter", &format!("label=gantry.task={id}")])
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// The `State.Status` of each of the task's containers.
    fn container_states(&self, id: &str) -> Vec<String> {
        self.containers(id)
            .iter()
            .map(|container| self.docker(&["inspect", "--format", "{{.State.Status}}", container]))
            .collect()
    }

    /// Panics with `message` and the diagnostics.
    fn fail(&self, message: &str) -> ! {
        panic!(
            "{}: {message}\n=== diagnostics ===\n{}",
            self.test,
            self.diagnostics()
        )
    }

    /// Everything that helps to see why a test failed: the processes, the
    /// tasks and their containers, the agent's and the hub's own logs.
    fn diagnostics(&self) -> String {
        // `Child::try_wait` needs `&mut`; the process state comes from /proc instead.
        let mut out = String::new();
        let agent = match &self.agent {
            None => "none running".to_owned(),
            Some(agent) => {
                let state = std::fs::read_to_string(format!("/proc/{}/status", agent.id()))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("State:"))
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| "gone".into());
                format!("pid {}, {state}", agent.id())
            }
        };
        let _ = writeln!(
            out,
            "hub {} (started {} times); agent {agent} (started {} times)",
            self.url, self.hub_starts, self.agent_starts
        );
        for id in &self.tasks {
            let task = self
                .task(id)
                .map_or_else(|| "no answer from the hub".into(), |t| t.to_string());
            let _ = writeln!(out, "task {id}: {task}");
            let containers = self.docker(&[
                "ps",
                "-a",
                "--filter",
                &format!("label=gantry.task={id}"),
                "--format",
                "{{.ID}} {{.Status}} {{.Names}}",
            ]);
            let _ = writeln!(out, "  containers: [{containers}]");
        }
        if self.agent.is_some() && self.host_dir().join("agent.sock").exists() {
            let status = self.gantry(&["agent", "status", "--json"]);
            let _ = writeln!(
                out,
                "agent status: {}{}",
                String::from_utf8_lossy(&status.stdout),
                String::from_utf8_lossy(&status.stderr)
            );
        }
        for start in 1..=self.agent_starts {
            let path = self.dir.path().join(format!("agent-{start}.stderr"));
            let _ = writeln!(
                out,
                "--- agent start {start}, stderr tail:\n{}",
                tail(&path, 40)
            );
        }
        if let Ok(entries) = std::fs::read_dir(self.host_dir().join("logs")) {
            for entry in entries.flatten() {
                let _ = writeln!(
                    out,
                    "--- {} (all starts), tail:\n{}",
                    entry.path().display(),
                    tail(&entry.path(), 20)
                );
            }
        }
        for start in 1..=self.hub_starts {
            let path = self.dir.path().join(format!("hub-{start}.stderr"));
            let _ = writeln!(
                out,
                "--- hub start {start}, stderr tail:\n{}",
                tail(&path, 20)
            );
        }
        out
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        // A failed test may leave a task's container running; remove it.
        for id in self.tasks.clone() {
            let containers = self.containers(&id);
            if !containers.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(containers.iter().map(String::as_str));
                self.docker(&args);
            }
        }
        if let Some(mut hub) = self.hub.take() {
            let _ = hub.kill();
            let _ = hub.wait();
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
struct PrivateEngine {
    dir: Option<tempfile::TempDir>,
    dockerd: Option<Child>,
    starts: usize,
}

impl PrivateEngine {
    /// Whether this machine can run one: root, `dockerd` and `unshare`.
    /// Skips, or fails with `GANTRY_REQUIRE_SERVICES=1`, otherwise.
    fn possible() -> bool {
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
    fn start() -> PrivateEngine {
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
        let mut save = Command::new("docker")
            .args(["save", &image()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
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
    fn host(&self) -> String {
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
            let info = Command::new("docker")
                .args(["info", "--format", "{{.ServerVersion}}"])
                .env("DOCKER_HOST", self.host())
                .stdin(Stdio::null())
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
                tail(&dir.join("dockerd.log"), 30)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops dockerd with SIGTERM (it stops its containers) and waits; SIGKILL
    /// after a minute, and its containerd too.
    fn stop(&mut self) {
        let Some(mut dockerd) = self.dockerd.take() else {
            return;
        };
        signal(&dockerd, Signal::SIGTERM);
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
            std::thread::sleep(POLL);
        }
    }

    /// Stops the engine and starts it again on the same folders and socket.
    fn restart(&mut self) {
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

/// SIGKILL while the container writes: the next agent finds the container,
/// reads what it wrote meanwhile, and the hub ends with every line once.
#[test]
fn sigkill_mid_task_reattaches_and_the_log_is_exact() {
    if !docker_ready() {
        return;
    }
    let mut rig = Rig::new("sigkill_mid_task", &[], None);
    rig.start_agent();
    // 200,000 lines in 200 bursts over several seconds.
    let id = rig.submit_sh(
        "i=0; while [ $i -lt 200 ]; do seq $((i*1000+1)) $((i*1000+1000)); i=$((i+1)); sleep 0.02; done",
    );
    rig.wait_log_started(&id);
    rig.kill_agent();
    // The container goes on writing with no agent attached.
    std::thread::sleep(Duration::from_secs(2));
    eprintln!(
        "restarting the agent; the task's container is {:?}",
        rig.container_states(&id)
    );
    rig.start_agent();
    let task = rig.finished(&id);
    rig.expect_end(&task, "succeeded", Some(0));
    rig.expect_log(&id, &seq(1, 200_000));
    let left = rig.containers(&id);
    if !left.is_empty() {
        rig.fail(&format!("the task's containers are left: {left:?}"));
    }
}

/// SIGKILL, then the container exits while no agent runs: the next agent
/// collects its whole output and its exit code.
#[test]
fn sigkill_then_container_exits_meanwhile_reports_its_exit_code() {
    if !docker_ready() {
        return;
    }
    let mut rig = Rig::new("sigkill_then_exit", &[], None);
    rig.start_agent();
    let id = rig.submit_sh("seq 1 200000; sleep 3; exit 3");
    rig.wait_log_started(&id);
    rig.kill_agent();
    let started = Instant::now();
    loop {
        let states = rig.container_states(&id);
        if states == ["exited"] {
            break;
        }
        if states.is_empty() {
            rig.fail("the task's container was removed while no agent ran");
        }
        if started.elapsed() > DEADLINE {
            rig.fail(&format!("the container did not exit: {states:?}"));
        }
        std::thread::sleep(POLL);
    }
    rig.start_agent();
    let task = rig.finished(&id);
    rig.expect_end(&task, "failed", Some(3));
    rig.expect_log(&id, &seq(1, 200_000));
    let left = rig.containers(&id);
    if !left.is_empty() {
        rig.fail(&format!("the task's containers are left: {left:?}"));
    }
}

/// SIGTERM without --stop-tasks-on-exit: the agent leaves, the container
/// keeps running, and the next agent takes it up where the hub's log ends.
#[test]
fn sigterm_leaves_the_container_running_and_the_next_start_reattaches() {
    if !docker_ready() {
        return;
    }
    let mut rig = Rig::new("sigterm_reattach", &[], None);
    rig.start_agent();
    // The pause is long enough for the agent to stop while the container still runs.
    let id = rig.submit_sh("seq 1 100000; sleep 5; seq 100001 200000");
    rig.wait_log_started(&id);
    rig.terminate_agent();
    let status = rig.agent_exits_within(Duration::from_secs(30));
    if !status.success() {
        rig.fail(&format!("the agent stopped with {status}"));
    }
    let states = rig.container_states(&id);
    if states != ["running"] {
        rig.fail(&format!(
            "the container should run on after the agent stopped: {states:?}"
        ));
    }
    rig.start_agent();
    let task = rig.finished(&id);
    rig.expect_end(&task, "succeeded", Some(0));
    rig.expect_log(&id, &seq(1, 200_000));
    let left = rig.containers(&id);
    if !left.is_empty() {
        rig.fail(&format!("the task's containers are left: {left:?}"));
    }
}

/// SIGTERM with --stop-tasks-on-exit: the tasks are canceled, their
/// containers removed, and the agent exits.
#[test]
fn stop_tasks_on_exit_cancels_them() {
    if !docker_ready() {
        return;
    }
    let mut rig = Rig::new("stop_tasks_on_exit", &["--stop-tasks-on-exit"], None);
    rig.start_agent();
    let id = rig.submit_sh("seq 1 1000; sleep 300");
    let printed = seq(1, 1000);
    let size = printed.len() as u64;
    rig.wait_task(&id, "to hold the whole log", |task| {
        task["log_size"].as_u64() == Some(size)
    });
    rig.terminate_agent();
    let status = rig.agent_exits_within(Duration::from_secs(60));
    if !status.success() {
        rig.fail(&format!("the agent stopped with {status}"));
    }
    let task = rig.wait_task_within(&id, "canceled", Duration::from_secs(10), |task| {
        task["state"] == "canceled"
    });
    eprintln!("canceled: {}", task["reason"]);
    rig.expect_log(&id, &printed);
    let left = rig.containers(&id);
    if !left.is_empty() {
        rig.fail(&format!(
            "the canceled task's containers are left: {left:?}"
        ));
    }
}

/// The hub is SIGKILLed for a minute while a task floods its log: the agent
/// keeps the output on disk with bounded memory and ships all of it once the
/// hub is back on the same address.
#[test]
fn hub_down_for_a_minute_during_a_flood() {
    if !docker_ready() {
        return;
    }
    let mut rig = Rig::new("hub_down", &[], None);
    rig.start_agent();
    let pid = rig.agent_pid();
    // 1,000,000 lines (6.9 MB) in 100 bursts over about 70 seconds.
    let id = rig.submit_sh(
        "i=0; while [ $i -lt 100 ]; do seq $((i*10000+1)) $((i*10000+10000)); i=$((i+1)); sleep 0.7; done",
    );
    rig.wait_log_started(&id);
    rig.kill_hub();
    std::thread::sleep(Duration::from_secs(60));
    if !rig.agent_alive() {
        rig.fail("the agent exited while the hub was down");
    }
    eprintln!(
        "hub back after 60s; the agent's peak RSS so far: {} KiB",
        rig.agent_peak_rss() / 1024
    );
    rig.start_hub();
    let task = rig.finished(&id);
    rig.expect_end(&task, "succeeded", Some(0));
    rig.expect_log(&id, &seq(1, 1_000_000));
    if !rig.agent_alive() || rig.agent_pid() != pid || rig.agent_starts != 1 {
        rig.fail("the agent should be the one process started at first");
    }
    let peak = rig.agent_peak_rss();
    eprintln!("the agent's peak RSS (VmHWM): {} KiB", peak / 1024);
    if peak >= 256 << 20 {
        rig.fail(&format!(
            "the agent's peak RSS is {} MiB, over 256 MiB",
            peak >> 20
        ));
    }
}

/// The Docker engine restarts under a running task (its container stops with
/// it): the task ends with a reason naming Docker and its whole log, and the
/// same agent runs the next task on the engine that came back.
#[test]
fn docker_engine_restart_mid_task() {
    if !docker_ready() || !PrivateEngine::possible() {
        return;
    }
    let mut engine = PrivateEngine::start();
    let mut rig = Rig::new("docker_restart", &[], Some(engine.host()));
    rig.start_agent();
    let pid = rig.agent_pid();
    let id = rig.submit_sh("seq 1 50000; sleep 300");
    let printed = seq(1, 50_000);
    let size = printed.len() as u64;
    rig.wait_task(&id, "to hold the whole log", |task| {
        task["log_size"].as_u64() == Some(size)
    });
    engine.restart();
    let task = rig.finished(&id);
    let reason = task["reason"].as_str().unwrap_or_default();
    eprintln!(
        "after the engine's restart: {} ({reason}); its containers: {:?}",
        task["state"],
        rig.container_states(&id)
    );
    if !reason.to_lowercase().contains("docker") {
        rig.fail(&format!(
            "the task ended {} with a reason that does not name Docker: {reason:?}",
            task["state"]
        ));
    }
    rig.expect_log(&id, &printed);
    if !rig.containers(&id).is_empty() {
        rig.fail("the task ended with its container still on the engine");
    }
    if !rig.agent_alive() || rig.agent_pid() != pid {
        rig.fail("the agent should survive the engine's restart");
    }
    let after = rig.submit_sh("echo after");
    let task = rig.finished(&after);
    rig.expect_end(&task, "succeeded", Some(0));
    rig.expect_log(&after, b"after\n");
    drop(rig);
    drop(engine);
}

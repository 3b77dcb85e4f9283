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
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use gantry_testkit::engine::{PrivateEngine, remove_labeled};
use gantry_testkit::services::{docker_command, stdout_of};
use gantry_testkit::{
    AgentLaunch, HubChild, Process, as_admin, docker_ready, hub_admin, hub_serve, image,
};
use nix::sys::signal::Signal;
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
    gantry_testkit::tail(path, n)
        .unwrap_or_else(|error| format!("(cannot read {}: {error})", path.display()))
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
    hub: Option<HubChild>,
    hub_starts: usize,
    agent: Option<Process>,
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
        hub_admin(Path::new(GANTRY), &self.hub_data(), args)
            .unwrap_or_else(|error| panic!("{error}"))
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
            let hub = HubChild::start(
                hub_serve(Path::new(GANTRY), &self.hub_data(), &listen)
                    .args(["--heartbeat", "1", "--offline-after", "30"])
                    .env("RUST_LOG", "warn")
                    .stderr(File::create(&stderr_path).unwrap()),
            );
            if let Ok(hub) = hub {
                let addr = hub.address().to_owned();
                if !self.addr.is_empty() {
                    assert_eq!(addr, self.addr, "the hub came back on another address");
                }
                self.url = hub.url("");
                self.addr = addr;
                self.hub = Some(hub);
                return;
            }
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
        self.hub.take().expect("the hub runs").process.kill();
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
        let launch = AgentLaunch {
            gantry: GANTRY.into(),
            server: self.url.clone(),
            token: self.node.clone(),
            name: "faulty".into(),
            host_dir: self.host_dir(),
            config_home: self.dir.path().to_owned(),
            docker_host: self.docker_host.clone(),
            args: self.agent_args.clone(),
        };
        let mut command = launch.command();
        command
            .env("GANTRY_PULL_ALWAYS", "false")
            .env("GANTRY_STOP_GRACE", "3")
            .stdout(Stdio::null())
            .stderr(stderr);
        self.agent = Some(Process::spawn(&mut command).unwrap());
        self.agent_must_live = true;
    }

    fn agent_pid(&self) -> u32 {
        self.agent.as_ref().expect("the agent runs").pid()
    }

    /// Whether the agent process started last is still running.
    fn agent_alive(&mut self) -> bool {
        self.agent.as_mut().is_some_and(Process::running)
    }

    /// SIGKILLs the agent and waits for it.
    fn kill_agent(&mut self) {
        self.agent_must_live = false;
        self.agent.take().expect("the agent runs").kill();
    }

    /// Sends SIGTERM to the agent; it is expected to exit by itself.
    fn terminate_agent(&mut self) {
        self.agent_must_live = false;
        self.agent
            .as_ref()
            .expect("the agent runs")
            .signal(Signal::SIGTERM);
    }

    /// Waits for the agent to exit by itself within `limit`.
    fn agent_exits_within(&mut self, limit: Duration) -> ExitStatus {
        match self.agent.as_mut().unwrap().exits_within(limit) {
            Some(status) => {
                self.agent = None;
                status
            }
            None => self.fail(&format!(
                "the agent did not exit within {}s",
                limit.as_secs()
            )),
        }
    }

    /// The agent's peak resident memory (VmHWM), in bytes.
    fn agent_peak_rss(&self) -> u64 {
        let memory =
            gantry_testkit::procfs::memory(self.agent_pid()).expect("/proc/PID/status has VmHWM");
        memory.hwm_kb * 1024
    }

    /// Runs the `gantry` command against the hub as the admin.
    fn gantry(&self, args: &[&str]) -> Output {
        as_admin(Path::new(GANTRY), &self.url, &self.admin)
            .args(args)
            .env("GANTRY_HOST_DIR", self.host_dir())
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
        let mut command = docker_command();
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        stdout_of(command.args(args))
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
                let state = std::fs::read_to_string(format!("/proc/{}/status", agent.pid()))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("State:"))
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| "gone".into());
                format!("pid {}, {state}", agent.pid())
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
        drop(self.agent.take());
        // A failed test may leave a task's container running; remove it.
        let labels: Vec<String> = self
            .tasks
            .iter()
            .map(|id| format!("gantry.task={id}"))
            .collect();
        remove_labeled(self.docker_host.as_deref(), &labels);
        drop(self.hub.take());
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
    // Usage accounting survives the restart: the record kept when the task
    // began, so its wall time covers the 2 s without an agent too.
    let wall = task["usage"]["wall_seconds"].as_f64().unwrap_or(0.0);
    if wall < 2.0 || task["usage"]["cpu_seconds"].as_f64().is_none() {
        rig.fail(&format!(
            "its usage misses the time before the restart: {}",
            task["usage"]
        ));
    }
    let left = rig.containers(&id);
    if !left.is_empty() {
        rig.fail(&format!("the task's containers are left: {left:?}"));
    }
}

/// SIGKILL while a released task's container has its grace to write its
/// checkpoint: the next agent finishes the release (the task goes back to
/// the queue with its checkpoint, instead of "succeeded" from the stopped
/// command's exit), then runs it again from that checkpoint.
#[test]
fn sigkill_mid_release_finishes_the_release_on_the_next_start() {
    if !docker_ready() {
        return;
    }
    let game = "gantryfakegame";
    let flags = [
        "--exclusive-app",
        game,
        "--yield-action",
        "release",
        "--yield-grace",
        "60",
        "--settle",
        "1",
    ];
    let mut rig = Rig::new("sigkill_mid_release", &flags, None);
    rig.start_agent();
    let script = "if [ -e ckpt/saved ]; then echo resumed from the checkpoint; exit 0; fi; \
                  mkdir -p ckpt; echo working; \
                  trap 'echo got TERM; sleep 3; echo yes > ckpt/saved; echo saved; exit 0' TERM; \
                  while true; do sleep 0.2 & wait $!; done";
    let id = rig.submit(&json!({
        "name": rig.test,
        "image": image(),
        "pull": "missing",
        "checkpoint": "ckpt",
        "command": ["sh", "-c", script],
    }));
    rig.wait_log_started(&id);
    // A real program of the exclusive app's name: a link to `sleep`.
    let program = rig.dir.path().join(game);
    // A link, not a copy: a copy being written while another test thread forks
    // makes exec fail with "Text file busy". The process is still named for the link.
    std::os::unix::fs::symlink("/bin/sleep", &program).unwrap();
    let mut playing = std::process::Command::new(&program)
        .arg("300")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + DEADLINE;
    while !String::from_utf8_lossy(&rig.log(&id)).contains("got TERM") {
        if Instant::now() > deadline {
            rig.fail("the task never got SIGTERM from the release");
        }
        std::thread::sleep(POLL);
    }
    rig.kill_agent();
    playing.kill().unwrap();
    playing.wait().unwrap();
    // The container writes its checkpoint and exits 0 while no agent runs.
    std::thread::sleep(Duration::from_secs(5));
    rig.start_agent();
    let task = rig.finished(&id);
    rig.expect_end(&task, "succeeded", Some(0));
    let log = String::from_utf8_lossy(&rig.log(&id)).into_owned();
    for (earlier, later) in [
        ("saved\n", "gantry: released"),
        ("gantry: released", "resumed from the checkpoint"),
    ] {
        match (log.find(earlier), log.find(later)) {
            (Some(a), Some(b)) if a < b => {}
            _ => rig.fail(&format!(
                "{earlier:?} should come before {later:?} in:\n{log}"
            )),
        }
    }
    let released =
        task["history"].as_array().into_iter().flatten().any(|t| {
            t["state"] == "queued" && t["reason"].as_str().is_some_and(|r| r.contains(game))
        });
    if !released {
        rig.fail(&format!(
            "no release to the queue in the history: {}",
            task["history"]
        ));
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

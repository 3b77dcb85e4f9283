//! `gantry agent …` and `gantry run` as a person uses them: real hub and agent
//! processes, the control socket, the process executor. Docker is pointed at a
//! socket that does not exist, so these also show how the agent copes without it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

struct Setup {
    hub: Child,
    agent: Option<Child>,
    url: String,
    admin: String,
    node: String,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start(agent_args: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let line = |args: &[&str]| {
            let output = Command::new(GANTRY)
                .args(args)
                .arg("--data-dir")
                .arg(&data)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        };
        let node = line(&["hub", "node", "add", "laptop"]);
        let admin = line(&["hub", "token", "create", "--admin", "me"]);
        let mut hub = Command::new(GANTRY)
            .args([
                "hub",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--heartbeat",
                "1",
                "--offline-after",
                "30",
                "--data-dir",
            ])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(hub.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_owned();
        let mut setup = Setup {
            hub,
            agent: None,
            url,
            admin,
            node,
            dir,
        };
        let agent = Command::new(GANTRY)
            .args(["agent", "start", "--server", &setup.url, "--name", "laptop"])
            .args(agent_args)
            .arg("--host-dir")
            .arg(setup.host_dir())
            .env("GANTRY_TOKEN", &setup.node)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("XDG_CONFIG_HOME", setup.dir.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        setup.agent = Some(agent);
        setup.wait_for("the agent's socket", || {
            setup.host_dir().join("agent.sock").exists()
        });
        setup
    }

    fn host_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    fn gantry(&self, args: &[&str]) -> Output {
        Command::new(GANTRY)
            .args(args)
            .env("GANTRY_SERVER", &self.url)
            .env("GANTRY_ADMIN_TOKEN", &self.admin)
            .env("GANTRY_HOST_DIR", self.host_dir())
            .output()
            .unwrap()
    }

    fn submit(&self, yaml: &str) -> String {
        let path = self
            .dir
            .path()
            .join(format!("job-{}.yaml", Instant::now().elapsed().as_nanos()));
        std::fs::write(&path, yaml).unwrap();
        let output = self.gantry(&["task", "submit", path.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn task(&self, id: &str) -> Value {
        serde_json::from_slice(&self.gantry(&["task", "show", id, "--json"]).stdout).unwrap()
    }

    fn status(&self) -> Value {
        let output = self.gantry(&["agent", "status", "--json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn wait_for(&self, what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(Instant::now() < deadline, "waited too long for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_state(&self, id: &str, state: &str) -> Value {
        self.wait_for(&format!("task {id} to be {state}"), || {
            self.task(id)["state"] == state
        });
        self.task(id)
    }

    fn stop_agent(&mut self) -> std::process::ExitStatus {
        let agent = self.agent.as_mut().unwrap();
        Command::new("kill")
            .arg(agent.id().to_string())
            .status()
            .unwrap();
        agent.wait().unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(agent) = &mut self.agent {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        let _ = self.hub.kill();
        let _ = self.hub.wait();
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn agent_runs_tasks_and_obeys_pause_resume_drain() {
    let mut setup = Setup::start(&[]);
    let status = setup.status();
    assert_eq!(status["name"], "laptop");
    assert_eq!(status["max_tasks"], 1);
    assert!(
        status["docker_problem"]
            .as_str()
            .unwrap()
            .contains("Docker is not reachable"),
        "{status}"
    );
    setup.wait_for("the agent to connect", || {
        setup.status()["connected"] == true
    });

    // A process task: its output reaches the hub, its exit code is kept.
    let id =
        setup.submit("executor: process\ncommand: [sh, -c, 'echo hello; echo oops >&2; exit 5']\n");
    let task = setup.wait_state(&id, "failed");
    assert_eq!(task["exit_code"], 5);
    // stdout and stderr are separate pipes: each arrives whole, their order is not kept.
    let log = String::from_utf8(setup.gantry(&["task", "logs", &id]).stdout).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort();
    assert_eq!(lines, ["hello", "oops"]);

    // A Docker task on a machine without Docker fails with what to do.
    let id = setup.submit("image: busybox\ncommand: [echo]\n");
    let task = setup.wait_state(&id, "failed");
    assert!(
        task["reason"].as_str().unwrap().contains("start Docker"),
        "{task}"
    );

    // Pause all freezes the running task (SIGSTOP to its process group) and takes nothing new.
    let long = setup.submit("executor: process\ncommand: [sh, -c, 'for i in $(seq 1 30); do echo tick $i; sleep 0.1; done']\n");
    setup.wait_for("output", || {
        setup.task(&long)["log_size"].as_u64().unwrap() > 0
    });
    assert!(setup.gantry(&["agent", "pause"]).status.success());
    setup.wait_state(&long, "paused");
    // Output written just before the pause may still be on its way to the hub.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(setup.status()["mode"]["paused"], true);
    let queued = setup.submit("executor: process\ncommand: [echo, later]\n");
    let size = setup.task(&long)["log_size"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        setup.task(&long)["log_size"].as_u64().unwrap(),
        size,
        "a paused task writes nothing"
    );
    assert_eq!(
        setup.task(&queued)["state"],
        "queued",
        "a paused agent takes no task"
    );
    assert!(setup.gantry(&["agent", "resume"]).status.success());
    setup.wait_state(&long, "succeeded");
    setup.wait_state(&queued, "succeeded");

    // Following a task through the agent's socket, then canceling it locally.
    let slow =
        setup.submit("executor: process\ncommand: [sh, -c, 'echo first; sleep 30; echo never']\n");
    setup.wait_for("output", || {
        setup.task(&slow)["log_size"].as_u64().unwrap() > 0
    });
    let follower = Command::new(GANTRY)
        .args(["agent", "logs", &slow])
        .env("GANTRY_HOST_DIR", setup.host_dir())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cancel = setup.gantry(&["agent", "cancel", &slow]);
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    let task = setup.wait_state(&slow, "canceled");
    assert_eq!(task["reason"], "canceled");
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(
        followed.stdout, b"first\n",
        "the follow ends when the task does"
    );

    // Drain: nothing new is taken until draining ends.
    assert!(setup.gantry(&["agent", "drain"]).status.success());
    let held = setup.submit("executor: process\ncommand: [echo, drained]\n");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(setup.task(&held)["state"], "queued");
    assert!(setup.gantry(&["agent", "drain", "--off"]).status.success());
    setup.wait_state(&held, "succeeded");

    // Pausing a task the agent does not hold says so.
    let output = setup.gantry(&["agent", "pause", "no-such-task"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not hold task no-such-task"));

    // The agent stops cleanly on SIGTERM and removes its socket.
    assert!(setup.stop_agent().success());
    assert!(!setup.host_dir().join("agent.sock").exists());
    let output = setup.gantry(&["agent", "status"]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no agent is running"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Its own log is a daily file in logs/, and the token is nowhere in the host dir.
    let logs: Vec<PathBuf> = files_under(&setup.host_dir().join("logs"));
    assert_eq!(logs.len(), 1, "{logs:?}");
    let text = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(
        text.contains("registered with the hub") && text.contains("task ended"),
        "{text}"
    );
    for file in files_under(&setup.host_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(setup.node.len())
                .any(|w| w == setup.node.as_bytes()),
            "the token is written in {}",
            file.display()
        );
    }
}

#[test]
fn a_second_agent_on_the_same_host_dir_is_refused() {
    let setup = Setup::start(&[]);
    let output = Command::new(GANTRY)
        .args(["agent", "start", "--server", &setup.url, "--host-dir"])
        .arg(setup.host_dir())
        .env("GANTRY_TOKEN", &setup.node)
        .env("XDG_CONFIG_HOME", setup.dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("another agent is running"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn agent_start_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(GANTRY);
        command
            .args(["agent", "start", "--host-dir"])
            .arg(dir.path())
            .args(args)
            .env("XDG_CONFIG_HOME", dir.path());
        for name in [
            "GANTRY_SERVER",
            "SERVER_ADDRESS",
            "GANTRY_TOKEN",
            "ACCESS_TOKEN",
        ] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(run(&[], &[]).contains("no hub address: pass --server or set GANTRY_SERVER"));
    assert!(run(&["--server", "http://127.0.0.1:9"], &[]).contains("no node token"));
    assert!(
        run(
            &[],
            &[
                ("SERVER_ADDRESS", "http://127.0.0.1:9"),
                ("ACCESS_TOKEN", "x"),
                ("PULL_ALWAYS", "maybe")
            ]
        )
        .contains("PULL_ALWAYS=maybe is not true or false")
    );
    assert!(run(&["--server", "not a url", "--token", "x"], &[]).contains("is not a hub address"));
}

#[test]
fn run_executes_one_job_without_a_hub() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.yaml");
    std::fs::write(
        &job,
        "executor: process\ncommand: [sh, -c, 'echo to-out; echo to-err >&2; echo kept > result.txt; exit 3']\noutputs: [result.txt]\n",
    )
    .unwrap();
    let output = Command::new(GANTRY)
        .args(["run", job.to_str().unwrap(), "--host-dir"])
        .arg(dir.path().join("host"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(output.stdout, b"to-out\n", "stdout stays stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("to-err\n") && stderr.contains("task failed: exited with code 3"),
        "{stderr}"
    );
    let results = files_under(&dir.path().join("host/storage/results"));
    assert_eq!(results.len(), 1);
    assert_eq!(std::fs::read(&results[0]).unwrap(), b"kept\n");

    std::fs::write(&job, "executor: process\ncommand: [true]\nbogus: 1\n").unwrap();
    let output = Command::new(GANTRY)
        .args(["run", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `bogus`"));
}

//! `gantry agent …` and `gantry run` as a person uses them: real hub and agent
//! processes, the control socket, the process executor. Docker is pointed at a
//! socket that does not exist, so these also show how the agent copes without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gantry_testkit::{
    AgentLaunch, HubChild, HubTokens, Process, as_admin, node_and_admin, quick_hub, until_blocking,
};
use nix::sys::signal::Signal;
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

struct Setup {
    agent: Option<Process>,
    /// Held for its life: dropping it stops the hub.
    _hub: HubChild,
    url: String,
    admin: String,
    node: String,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start(agent_args: &[&str]) -> Setup {
        let mut setup = Setup::hub();
        let launch = AgentLaunch {
            gantry: GANTRY.into(),
            server: setup.url.clone(),
            token: setup.node.clone(),
            name: "laptop".into(),
            host_dir: setup.host_dir(),
            config_home: setup.dir.path().to_owned(),
            docker_host: Some("unix:///nonexistent/docker.sock".into()),
            args: agent_args.iter().map(|a| (*a).to_owned()).collect(),
        };
        let agent = Process::spawn(launch.command().stderr(Stdio::null())).unwrap();
        setup.agent = Some(agent);
        setup.wait_for("the agent's socket", || {
            setup.host_dir().join("agent.sock").exists()
        });
        setup
    }

    /// A hub with a node "laptop" and an admin token, and no agent yet.
    fn hub() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let HubTokens { node, admin } = node_and_admin(gantry, &data, "laptop");
        let hub =
            HubChild::start(quick_hub(gantry, &data).args(["--offline-after", "30"])).unwrap();
        Setup {
            url: hub.url(""),
            _hub: hub,
            agent: None,
            admin,
            node,
            dir,
        }
    }

    fn host_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    fn gantry(&self, args: &[&str]) -> Output {
        as_admin(Path::new(GANTRY), &self.url, &self.admin)
            .args(args)
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
        until_blocking(60, what, || check().then_some(()));
    }

    fn wait_state(&self, id: &str, state: &str) -> Value {
        self.wait_for(&format!("task {id} to be {state}"), || {
            self.task(id)["state"] == state
        });
        self.task(id)
    }

    fn stop_agent(&mut self) -> std::process::ExitStatus {
        let agent = self.agent.as_mut().unwrap();
        agent.signal(Signal::SIGTERM);
        agent.0.wait().unwrap()
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
    // The hub's view of the node lists the task it runs.
    let shown = String::from_utf8(setup.gantry(&["node", "show", "laptop"]).stdout).unwrap();
    assert!(
        shown.contains(&format!("  {long}  ")) && shown.contains("(running)"),
        "{shown}"
    );
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

    // Drain: nothing new is taken until draining ends, and the hub's node
    // list says so (the agent's heartbeat tells it).
    let node_state = || {
        let table = String::from_utf8(setup.gantry(&["node", "list"]).stdout).unwrap();
        let row = table
            .lines()
            .find(|line| line.starts_with("laptop "))
            .map(str::to_owned);
        row.and_then(|row| row.split_whitespace().nth(1).map(str::to_owned))
    };
    assert_eq!(node_state().as_deref(), Some("online"));
    assert!(setup.gantry(&["agent", "drain"]).status.success());
    let held = setup.submit("executor: process\ncommand: [echo, drained]\n");
    setup.wait_for("the node list to say draining", || {
        node_state().as_deref() == Some("draining")
    });
    assert_eq!(setup.task(&held)["state"], "queued");
    assert!(setup.gantry(&["agent", "drain", "--off"]).status.success());
    setup.wait_state(&held, "succeeded");
    setup.wait_for("the node list to say online", || {
        node_state().as_deref() == Some("online")
    });

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
fn steering_commands_find_the_agent_that_agent_toml_placed() {
    let setup = Setup::start(&[]);
    // The person's agent.toml names the host dir; no flag or variable does.
    let config = setup.dir.path().join("gantry/agent.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!("host_dir = \"{}\"\n", setup.host_dir().display()),
    )
    .unwrap();
    let status = |extra: &[&str]| {
        Command::new(GANTRY)
            .args(["agent", "status", "--json"])
            .args(extra)
            .env_remove("GANTRY_HOST_DIR")
            .env_remove("AGENT_HOST_DIR")
            .env_remove("GANTRY_CONFIG")
            .env("XDG_CONFIG_HOME", setup.dir.path())
            .output()
            .unwrap()
    };
    let output = status(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer["host_dir"],
        setup.host_dir().display().to_string(),
        "{answer}"
    );
    // A config file named on the command line that is not there is said.
    let missing = setup.dir.path().join("nope.toml");
    let output = status(&["--config", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("does not exist"),
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

    std::fs::write(&job, "executor: process\ncommand: [\"true\"]\nbogus: 1\n").unwrap();
    let output = Command::new(GANTRY)
        .args(["run", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `bogus`"));
}

/// Splits a unit's ExecStart= line into words (double quotes only, as the
/// unit `gantry service install` writes uses them).
fn exec_words(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has ExecStart=");
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => word.extend(chars.next()),
            ' ' if !quoted => words.push(std::mem::take(&mut word)),
            c => word.push(c),
        }
    }
    words.push(word);
    words.into_iter().map(|w| w.replace("%%", "%")).collect()
}

#[test]
fn service_install_writes_a_valid_unit_whose_command_runs_the_agent() {
    let mut setup = Setup::hub();
    let home = setup.dir.path().join("home");
    let config = home.join(".config");
    let runtime = setup.dir.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let service = |args: &[&str], token: Option<&str>| {
        let mut command = Command::new(GANTRY);
        command
            .arg("service")
            .args(args)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("GANTRY_TOKEN")
            .env_remove("GANTRY_SERVER")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::piped());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(token) = token {
            use std::io::Write;
            writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
        }
        child.wait_with_output().unwrap()
    };
    assert_eq!(
        service(&["status"], None).status.code(),
        Some(3),
        "not installed yet"
    );
    let host_dir = setup.host_dir();
    let installed = service(
        &[
            "install",
            "--server",
            &setup.url,
            "--host-dir",
            host_dir.to_str().unwrap(),
            "--name",
            "lab box",
            "--label",
            "room=2",
        ],
        Some(&setup.node),
    );
    let said = String::from_utf8_lossy(&installed.stderr);
    // systemd is not PID 1 here, so no user manager takes the unit: the
    // command says so, and what to run where one does.
    assert_eq!(installed.status.code(), Some(1), "{said}");
    assert!(
        said.contains("systemctl --user enable --now gantry-agent.service"),
        "{said}"
    );

    let unit_path = config.join("systemd/user/gantry-agent.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    assert!(
        !unit.contains(&setup.node),
        "the token is in the unit:\n{unit}"
    );
    let token_path = config.join("gantry/node-token");
    assert_eq!(
        std::fs::read_to_string(&token_path).unwrap().trim(),
        setup.node
    );
    for path in [&unit_path, &token_path] {
        let mode = std::fs::metadata(path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "{path:?}"
        );
    }

    // systemd's own parser accepts the unit, without a word of warning
    // (`cargo xtask test` installs systemd for systemd-analyze).
    match Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(&unit_path)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
    {
        Ok(verified) => assert!(
            verified.status.success() && verified.stderr.is_empty(),
            "systemd-analyze verify: {}\n{unit}",
            String::from_utf8_lossy(&verified.stderr)
        ),
        Err(error) => assert!(
            std::env::var_os("GANTRY_REQUIRE_SERVICES").is_none(),
            "systemd-analyze is needed: {error}"
        ),
    }

    // The unit's command line, run as systemd would (no token in the
    // environment), connects to the hub.
    let words = exec_words(&unit);
    assert_eq!(
        std::path::Path::new(&words[0]),
        std::fs::canonicalize(GANTRY).unwrap()
    );
    assert!(words.contains(&"lab box".to_owned()), "{words:?}");
    let agent = Command::new(&words[0])
        .args(&words[1..])
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    setup.agent = Some(Process(agent));
    setup.wait_for("the unit's agent to reach the hub", || {
        setup.host_dir().join("agent.sock").exists()
            && setup
                .gantry(&["agent", "status", "--json"])
                .status
                .success()
            && setup.status()["connected"] == true
    });
    assert_eq!(setup.status()["name"], "lab box");

    let status = service(&["status"], None);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(shown.contains("installed at"), "{shown}");
    assert_eq!(status.status.code(), Some(3), "no manager runs it: {shown}");

    let removed = service(&["uninstall"], None);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(!unit_path.exists() && !token_path.exists());
    assert!(setup.host_dir().exists(), "the storage folder stays");
}

#[test]
fn a_refused_token_exits_with_its_own_status() {
    let setup = Setup::hub();
    let token = setup.dir.path().join("token");
    std::fs::write(&token, "gantry_node_not-a-real-token\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let output = Command::new(GANTRY)
        .args(["agent", "start", "--server", &setup.url, "--token-file"])
        .arg(&token)
        .arg("--host-dir")
        .arg(setup.host_dir())
        .env_remove("GANTRY_TOKEN")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("XDG_CONFIG_HOME", setup.dir.path())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

//! `gantry agent start`'s Prefect short forms (`-t TOKEN`, `-l LABEL`), the
//! host name label Prefect's local agent adds (and the ways to turn it off),
//! and the timeouts file `DEFAULT_TIMEOUTS=false` loads: real hub and agent
//! processes, checked through the hub's node list and a task's end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_testkit::{
    HubChild, HubTokens, Process, as_admin, node_and_admin, quick_hub, until_blocking,
};
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// A hub with the node "laptop", its token and an admin token.
struct Hub {
    _child: HubChild,
    url: String,
    admin: String,
    node: String,
    dir: tempfile::TempDir,
}

impl Hub {
    fn start() -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let HubTokens { node, admin } = node_and_admin(gantry, &data, "laptop");
        let child = HubChild::start(&mut quick_hub(gantry, &data)).unwrap();
        Hub {
            url: child.url(""),
            _child: child,
            admin,
            node,
            dir,
        }
    }

    fn host_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    /// `gantry agent start` with `args`, none of the agent's variables from
    /// this process, and a config home of the test's own.
    fn agent(&self, args: &[&str]) -> Command {
        let mut command = Command::new(GANTRY);
        for (name, _) in std::env::vars() {
            if name.starts_with("GANTRY_") || name == "DEFAULT_TIMEOUTS" {
                command.env_remove(name);
            }
        }
        command
            .args(["agent", "start", "--server", &self.url, "--host-dir"])
            .arg(self.host_dir())
            .args(args)
            .env("XDG_CONFIG_HOME", self.dir.path())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    fn gantry(&self, args: &[&str]) -> Value {
        let output = as_admin(Path::new(GANTRY), &self.url, &self.admin)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "gantry {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The node's labels once its agent has registered (it has a version).
    fn registered_labels(&self) -> Vec<String> {
        until_blocking(60, "the agent to register", || {
            let list = self.gantry(&["node", "list", "--json"]);
            let node = list["nodes"]
                .as_array()
                .or(list.as_array())
                .and_then(|nodes| nodes.iter().find(|n| n["name"] == "laptop"))
                .cloned()?;
            node["version"].is_string().then(|| {
                node["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_owned())
                    .collect()
            })
        })
    }
}

/// This machine's host name, as the agent reads it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn short_flags_register_their_labels_and_the_host_name() {
    let hub = Hub::start();
    let mut agent =
        Process::spawn(&mut hub.agent(&["-t", &hub.node, "-l", "gpu", "-l", "zone=eu"])).unwrap();
    let mut labels = hub.registered_labels();
    labels.sort();
    let mut want = vec!["gpu".to_owned(), "zone=eu".to_owned(), host_name()];
    want.sort();
    assert_eq!(labels, want);
    agent.kill();
}

#[test]
fn the_host_name_label_can_be_turned_off() {
    let hub = Hub::start();
    // By the flag.
    let mut agent =
        Process::spawn(&mut hub.agent(&["-t", &hub.node, "-l", "gpu", "--no-hostname-label"]))
            .unwrap();
    assert_eq!(hub.registered_labels(), ["gpu"]);
    agent.kill();
    // By agent.toml, with the token from the environment: the hub keeps the
    // labels the agent registered last, so a restart without the host name
    // shows it gone.
    let config = hub.dir.path().join("gantry");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("agent.toml"),
        "hostname_label = false\nlabels = [\"cpu\"]\n",
    )
    .unwrap();
    let _ = std::fs::remove_file(hub.host_dir().join("agent.sock"));
    let mut agent = Process::spawn(hub.agent(&[]).env("GANTRY_TOKEN", &hub.node)).unwrap();
    until_blocking(60, "labels [cpu]", || {
        (hub.registered_labels() == ["cpu"]).then_some(())
    });
    agent.kill();
}

#[test]
fn the_timeouts_file_sets_the_default_task_timeout() {
    let hub = Hub::start();
    let file = hub.dir.path().join("timeouts.json");
    std::fs::write(&file, r#"{"task": "2s", "stop_grace": 1}"#).unwrap();
    let mut agent = Process::spawn(
        hub.agent(&["--timeouts-file", file.to_str().unwrap()])
            .env("GANTRY_TOKEN", &hub.node)
            .env("DEFAULT_TIMEOUTS", "false"),
    )
    .unwrap();
    hub.registered_labels();
    let job = hub.dir.path().join("job.yaml");
    std::fs::write(&job, "executor: process\ncommand: [sleep, '60']\n").unwrap();
    let submitted = as_admin(Path::new(GANTRY), &hub.url, &hub.admin)
        .args(["task", "submit", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(submitted.status.success());
    let id = String::from_utf8(submitted.stdout)
        .unwrap()
        .trim()
        .to_owned();
    // The job sets no timeout: the file's 2 s stops it long before its 60 s.
    let task: Value = until_blocking(60, "the task to end", || {
        let task = hub.gantry(&["task", "show", &id, "--json"]);
        (task["state"] == "failed").then_some(task)
    });
    assert!(
        task["reason"]
            .as_str()
            .unwrap()
            .contains("the agent's task timeout"),
        "{task}"
    );
    agent.kill();
}

#[test]
fn a_bad_timeouts_file_or_none_stops_the_start_with_a_sentence() {
    let hub = Hub::start();
    let said = |command: &mut Command| {
        let output = command.stderr(Stdio::piped()).output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let file = hub.dir.path().join("timeouts.json");
    std::fs::write(&file, r#"{"tsak": 5}"#).unwrap();
    let err = said(
        hub.agent(&["-t", &hub.node, "--timeouts-file", file.to_str().unwrap()])
            .env("DEFAULT_TIMEOUTS", "false"),
    );
    assert!(err.contains("unknown field `tsak`"), "{err}");
    assert!(
        err.contains("task, docker_api_call, stop_grace, epilogue"),
        "{err}"
    );
    let err = said(
        hub.agent(&["-t", &hub.node])
            .env("DEFAULT_TIMEOUTS", "false"),
    );
    assert!(err.contains("--timeouts-file"), "{err}");
    let err = said(&mut hub.agent(&["-t", &hub.node, "--timeouts-file", file.to_str().unwrap()]));
    assert!(err.contains("DEFAULT_TIMEOUTS is true"), "{err}");
}

//! Node and token administration end to end, as a person does it: a real
//! `gantry hub serve`, a real `gantry agent start`, and the admin's `gantry
//! node …` and `gantry hub token …` commands. A rename and new labels reach
//! the running agent without a restart; a rotated token and a removed node
//! stop it with exit code 3 and the hub's sentence; a removed node's task is
//! canceled at the hub and its container is gone from the engine.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use gantry_testkit::{
    AgentLaunch, HubChild, HubTokens, Process, as_admin, docker, docker_ready, hub_admin, image,
    node_and_admin, quick_hub, until_blocking,
};
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// A hub with a node "laptop" and an admin token "me", and an agent for the node.
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

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("hub")
    }

    fn host_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    fn agent_log(&self) -> PathBuf {
        self.dir.path().join("agent.stderr")
    }

    /// Starts `gantry agent start` with `token`, its stderr in [`Setup::agent_log`],
    /// and waits until it reached the hub.
    fn start_agent(&mut self, token: &str, docker_host: Option<String>) {
        let launch = AgentLaunch {
            gantry: GANTRY.into(),
            server: self.url.clone(),
            token: token.to_owned(),
            name: "laptop".into(),
            host_dir: self.host_dir(),
            config_home: self.dir.path().to_owned(),
            docker_host: Some(
                docker_host.unwrap_or_else(|| "unix:///nonexistent/docker.sock".into()),
            ),
            // The labels this test checks are the hub's alone; the host name
            // label is agent_options.rs's to test.
            args: vec!["--no-hostname-label".into()],
        };
        let log = std::fs::File::create(self.agent_log()).unwrap();
        self.agent = Some(Process::spawn(launch.command().stderr(Stdio::from(log))).unwrap());
        until_blocking(60, "the agent to reach the hub", || {
            (self.host_dir().join("agent.sock").exists() && self.status()["connected"] == true)
                .then_some(())
        });
    }

    fn gantry(&self, args: &[&str]) -> Output {
        as_admin(Path::new(GANTRY), &self.url, &self.admin)
            .args(args)
            .env("GANTRY_HOST_DIR", self.host_dir())
            .output()
            .unwrap()
    }

    /// Runs `args`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.gantry(args);
        assert!(
            output.status.success(),
            "gantry {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn status(&self) -> Value {
        let output = self.gantry(&["agent", "status", "--json"]);
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    fn task(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["task", "show", id, "--json"])).unwrap()
    }

    fn submit(&self, yaml: &str) -> String {
        let path = self.dir.path().join("job.yaml");
        std::fs::write(&path, yaml).unwrap();
        self.ok(&["task", "submit", path.to_str().unwrap()])
            .trim()
            .to_owned()
    }

    /// Waits for the agent to exit on its own; its exit code and stderr.
    fn agent_exit(&mut self) -> (Option<i32>, String) {
        let agent = self.agent.as_mut().unwrap();
        let status = agent
            .exits_within(Duration::from_secs(60))
            .expect("the agent exits by itself");
        (
            status.code(),
            std::fs::read_to_string(self.agent_log()).unwrap(),
        )
    }
}

#[test]
fn rename_and_labels_reach_the_running_agent_and_a_rotated_token_stops_it() {
    let mut setup = Setup::hub();
    let token = setup.node.clone();
    setup.start_agent(&token, None);
    assert_eq!(setup.status()["node"], "laptop");

    setup.ok(&["node", "rename", "laptop", "gpu-1"]);
    setup.ok(&["node", "label", "gpu-1", "--add", "zone=eu", "--add", "gpu"]);
    setup.ok(&["node", "label", "gpu-1", "--remove", "gpu"]);
    // No restart: the agent shows them after a heartbeat or two.
    until_blocking(20, "the agent to show its new name and labels", || {
        let status = setup.status();
        (status["node"] == "gpu-1" && status["labels"] == serde_json::json!(["zone=eu"]))
            .then_some(())
    });
    let text = String::from_utf8(setup.gantry(&["agent", "status"]).stdout).unwrap();
    assert!(text.contains("node:      gpu-1"), "{text}");
    assert!(text.contains("labels:    zone=eu"), "{text}");

    // The list and show say the state; the old name is gone.
    let list: Value = serde_json::from_str(&setup.ok(&["node", "list", "--json"])).unwrap();
    let node = &list["nodes"][0];
    assert_eq!(list["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(
        (node["name"].as_str(), node["state"].as_str()),
        (Some("gpu-1"), Some("online"))
    );
    assert!(node["id"].is_string() && node["labels"].is_array());
    let shown: Value =
        serde_json::from_str(&setup.ok(&["node", "show", "gpu-1", "--json"])).unwrap();
    assert_eq!(shown["given_labels"], serde_json::json!(["zone=eu"]));
    let missing = setup.gantry(&["node", "show", "laptop"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no node is named"),
        "{missing:?}"
    );
    // A clash is refused with a sentence.
    hub_admin(
        Path::new(GANTRY),
        &setup.data_dir(),
        &["hub", "node", "add", "desk"],
    )
    .unwrap();
    let clash = setup.gantry(&["node", "rename", "gpu-1", "desk"]);
    assert!(!clash.status.success());
    assert!(
        String::from_utf8_lossy(&clash.stderr).contains("another node is named \"desk\""),
        "{clash:?}"
    );

    // Rotate: the new token alone on stdout; the running agent stops with exit 3.
    let new_token = setup.ok(&["node", "token", "gpu-1", "--rotate"]);
    assert_eq!(new_token.lines().count(), 1);
    let new_token = new_token.trim().to_owned();
    assert!(new_token.starts_with("gantry_node_"));
    let (code, stderr) = setup.agent_exit();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("this node's token (node gpu-1) was replaced at"),
        "{stderr}"
    );
    assert!(stderr.contains("paste the new one"), "{stderr}");
    assert!(!stderr.contains(&token) && !stderr.contains(&new_token));

    // With the new token it comes back, under the hub's name.
    setup.start_agent(&new_token, None);
    assert_eq!(setup.status()["node"], "gpu-1");
    assert_eq!(
        setup.status()["name"],
        "laptop",
        "the agent's own name stays"
    );
    setup
        .agent
        .as_mut()
        .unwrap()
        .terminate(Duration::from_secs(30));
}

#[test]
fn removing_a_node_cancels_its_task_removes_its_container_and_stops_its_agent() {
    if !docker_ready() {
        return;
    }
    let mut setup = Setup::hub();
    let token = setup.node.clone();
    setup.start_agent(&token, std::env::var("DOCKER_HOST").ok());
    let id = setup.submit(&format!(
        "image: {}\ncommand: [sh, -c, 'echo started; sleep 300']\n",
        image()
    ));
    until_blocking(60, "the task to run", || {
        (setup.task(&id)["state"] == "running").then_some(())
    });
    let filter = format!("label=gantry.task={id}");
    // The hub hears `running` as the container starts; the engine may list it a moment later.
    until_blocking(30, "the task's container to run", || {
        (!docker(&["ps", "-q", "--filter", &filter]).is_empty()).then_some(())
    });
    let queued = setup.submit(&format!("image: {}\nnode: laptop\n", image()));

    // Not on a terminal, removing asks for --yes and says what would happen.
    let refused = setup.gantry(&["node", "remove", "laptop"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("cancels the 1 task(s) it holds") && said.contains("--yes"),
        "{said}"
    );
    assert_eq!(setup.task(&id)["state"], "running");

    let removed = setup.gantry(&["node", "remove", "laptop", "--yes"]);
    assert!(removed.status.success(), "{removed:?}");
    let task = setup.task(&id);
    assert_eq!(task["state"], "canceled");
    assert_eq!(task["reason"], "its node laptop was removed from the hub");
    assert_eq!(task["node"], "laptop");
    assert_eq!(setup.task(&queued)["state"], "failed");

    let (code, stderr) = setup.agent_exit();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("error: node laptop was removed from the hub at"),
        "{stderr}"
    );
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &filter]),
        "",
        "the agent stopped and removed the task's container"
    );
    let list: Value = serde_json::from_str(&setup.ok(&["node", "list", "--json"])).unwrap();
    assert_eq!(list["nodes"], serde_json::json!([]));
}

/// Sends one heartbeat as the node, as an agent that yields would.
fn heartbeat(setup: &Setup, beat: Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/agent/heartbeat", setup.url))
            .bearer_auth(&setup.node)
            .json(&beat)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success(), "{status}");
}

#[test]
fn node_list_says_a_yielding_node_and_why() {
    let setup = Setup::hub();
    let why = "you are using this computer";
    heartbeat(
        &setup,
        serde_json::json!({"accepting": false,
            "yielding": {"reason": why, "gpu_only": false, "since": 1_700_000_000_000i64}}),
    );
    let table = setup.ok(&["node", "list"]);
    let row = table.lines().find(|l| l.starts_with("laptop")).unwrap();
    assert!(row.contains(&format!("yielding: {why}")), "{table}");
    let list: Value = serde_json::from_str(&setup.ok(&["node", "list", "--json"])).unwrap();
    let node = &list["nodes"][0];
    assert_eq!(
        (node["state"].as_str(), node["yield_reason"].as_str()),
        (Some("yielding"), Some(why))
    );
    let shown = setup.ok(&["node", "show", "laptop"]);
    assert!(
        shown.contains(&format!("state:        yielding: {why}")),
        "{shown}"
    );
    // The yield ends: online, and no reason.
    heartbeat(&setup, serde_json::json!({}));
    let list: Value = serde_json::from_str(&setup.ok(&["node", "list", "--json"])).unwrap();
    assert_eq!(list["nodes"][0]["state"], "online");
    assert!(
        list["nodes"][0]
            .get("yield_reason")
            .is_none_or(Value::is_null)
    );
    assert!(!setup.ok(&["node", "list"]).contains("yielding"));
}

#[test]
fn admin_tokens_are_listed_and_revoked_through_the_cli() {
    let setup = Setup::hub();
    let ci = hub_admin(
        Path::new(GANTRY),
        &setup.data_dir(),
        &["hub", "token", "create", "--admin", "ci"],
    )
    .unwrap();
    let listed = setup.ok(&["hub", "token", "list", "--json"]);
    assert!(
        !listed.contains(&ci) && !listed.contains(&setup.admin),
        "never a token"
    );
    let list: Value = serde_json::from_str(&listed).unwrap();
    let names: Vec<(&str, bool)> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["last_used"].is_null()))
        .collect();
    // "me" made this very call; "ci" was never used.
    assert_eq!(names, [("ci", true), ("me", false)]);
    let table = setup.ok(&["hub", "token", "list"]);
    assert!(table.contains("ci") && table.contains("never"), "{table}");

    let revoked = setup.gantry(&["hub", "token", "revoke", "ci"]);
    assert!(revoked.status.success(), "{revoked:?}");
    let as_ci = as_admin(Path::new(GANTRY), &setup.url, &ci)
        .args(["node", "list"])
        .output()
        .unwrap();
    assert!(!as_ci.status.success());
    let said = String::from_utf8_lossy(&as_ci.stderr);
    assert!(
        said.contains("the admin token \"ci\" was revoked at"),
        "{said}"
    );
    let again = setup.gantry(&["hub", "token", "revoke", "ci"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no admin token is named \"ci\""),
        "{again:?}"
    );
}

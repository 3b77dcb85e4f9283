//! The node steps aside for its person, end to end with real processes: a
//! real `gantry hub serve`, a real `gantry agent start` with the yield
//! flags, and a real program of the exclusive app's name. The hub's node
//! list and the agent's own status say the node is yielding and why, and it
//! comes back once the program is gone and the settle time passed. Quiet
//! hours that always hold make it yield from the start.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gantry_testkit::{
    AgentLaunch, HubChild, HubTokens, Process, as_admin, node_and_admin, quick_hub, until_blocking,
};
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// A hub with one node and an admin token, and that node's agent.
struct Node {
    _hub: HubChild,
    url: String,
    admin: String,
    dir: tempfile::TempDir,
    agent: Process,
}

impl Node {
    fn start(flags: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let HubTokens { node: token, admin } = node_and_admin(gantry, &data, "desk");
        let hub = HubChild::start(&mut quick_hub(gantry, &data)).unwrap();
        let launch = AgentLaunch {
            gantry: GANTRY.into(),
            server: hub.url(""),
            token,
            name: "desk".into(),
            host_dir: dir.path().join("agent"),
            config_home: dir.path().to_owned(),
            docker_host: Some("unix:///nonexistent/docker.sock".into()),
            args: flags.iter().map(|flag| flag.to_string()).collect(),
        };
        let log = std::fs::File::create(dir.path().join("agent.stderr")).unwrap();
        let agent = Process::spawn(launch.command().stderr(Stdio::from(log))).unwrap();
        Node {
            url: hub.url(""),
            _hub: hub,
            admin,
            dir,
            agent,
        }
    }

    fn gantry(&self, args: &[&str]) -> String {
        let output = as_admin(Path::new(GANTRY), &self.url, &self.admin)
            .args(args)
            .env("GANTRY_HOST_DIR", self.dir.path().join("agent"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "gantry {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The node as the hub lists it.
    fn at_hub(&self) -> Value {
        let list: Value = serde_json::from_str(&self.gantry(&["node", "list", "--json"])).unwrap();
        list["nodes"][0].clone()
    }

    /// The agent's own status.
    fn local(&self) -> Value {
        serde_json::from_str(&self.gantry(&["agent", "status", "--json"])).unwrap_or(Value::Null)
    }

    /// Waits until the hub and the agent both show `state`; the hub's node.
    fn until_state(&self, state: &str) -> Value {
        until_blocking(60, &format!("the node to be {state}"), || {
            let node = self.at_hub();
            (node["state"] == state && self.local()["state"] == state).then_some(node)
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.agent.kill();
    }
}

/// A real program called `name`: a link to `sleep` under that name.
fn program(dir: &Path, name: &str) -> (PathBuf, std::process::Child) {
    let path = dir.join(name);
    // A link, not a copy: a copy being written while another test thread forks
    // makes exec fail with "Text file busy". The process is still named for the link.
    std::os::unix::fs::symlink("/bin/sleep", &path).unwrap();
    let child = Command::new(&path).arg("300").spawn().unwrap();
    (path, child)
}

#[test]
fn an_exclusive_app_makes_the_node_yield_until_it_is_gone() {
    let node = Node::start(&["--exclusive-app", "gantryfakegame", "--settle", "1"]);
    node.until_state("online");

    let (_path, mut game) = program(node.dir.path(), "gantryfakegame");
    let yielding = node.until_state("yielding");
    let reason = yielding["yield_reason"].as_str().unwrap();
    assert!(reason.contains("gantryfakegame"), "{reason}");
    assert_eq!(node.local()["yield_reason"], reason);
    let list = node.gantry(&["node", "list"]);
    assert!(list.contains(&format!("yielding: {reason}")), "{list}");
    let local = node.gantry(&["agent", "status"]);
    assert!(local.contains(&format!("yielding: {reason}")), "{local}");

    game.kill().unwrap();
    game.wait().unwrap();
    let back = node.until_state("online");
    assert!(
        back.get("yield_reason").is_none_or(Value::is_null),
        "{back}"
    );
}

#[test]
fn quiet_hours_that_always_hold_make_the_node_yield() {
    let node = Node::start(&["--quiet-hours", "mon-sun 00:00-24:00"]);
    let yielding = node.until_state("yielding");
    let reason = yielding["yield_reason"].as_str().unwrap();
    assert!(reason.contains("quiet hours"), "{reason}");
}

//! The world end-to-end tests run in: a real hub on `127.0.0.1:0`, real agents
//! in the same process, and the real Docker engine named by `DOCKER_HOST`.
//!
//! `cargo xtask test` starts the engine and a registry and sets:
//! - `DOCKER_HOST`: the engine;
//! - `GANTRY_TEST_IMAGE`: a small image built FROM scratch with busybox;
//! - `GANTRY_TEST_REGISTRY`, `GANTRY_TEST_REGISTRY_USER`, `GANTRY_TEST_REGISTRY_PASSWORD`:
//!   a registry with htpasswd login holding `<registry>/gantry-test/busybox:1`;
//! - `GANTRY_REQUIRE_SERVICES=1`: a missing service fails a test rather than skipping it.

#![allow(missing_docs, clippy::missing_panics_doc)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_agent::agent::Agent;
use gantry_agent::config::{AgentConfig, Flags};
use gantry_client::{HubClient, Token};
use gantry_hub::{Hub, HubConfig, SystemClock};
use gantry_protocol::job::{Format, JobSpec};
use gantry_protocol::wire::Task;
use tokio_util::sync::CancellationToken;

/// Whether the test must fail, rather than skip, when a service is missing.
pub fn required() -> bool {
    std::env::var("GANTRY_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// The small test image.
pub fn image() -> String {
    std::env::var("GANTRY_TEST_IMAGE").unwrap_or_else(|_| "gantry-test/busybox:1".into())
}

/// The test registry: (address, user, password), when one runs.
pub fn registry() -> Option<(String, String, String)> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        get("GANTRY_TEST_REGISTRY"),
        get("GANTRY_TEST_REGISTRY_USER"),
        get("GANTRY_TEST_REGISTRY_PASSWORD"),
    ) {
        (Some(address), Some(user), Some(password)) => Some((address, user, password)),
        _ if required() => panic!(
            "GANTRY_TEST_REGISTRY* are not set, and GANTRY_REQUIRE_SERVICES=1 forbids skipping"
        ),
        _ => None,
    }
}

/// Whether the Docker engine answers and has the test image; skips (or fails
/// when services are required) otherwise.
pub fn docker_ready() -> bool {
    let output = std::process::Command::new("docker")
        .args(["image", "inspect", &image()])
        .output();
    let ready = output.is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            !required(),
            "the Docker engine or the image {} is missing, and GANTRY_REQUIRE_SERVICES=1",
            image()
        );
        eprintln!(
            "SKIPPED: no Docker engine with {} (cargo xtask test starts one)",
            image()
        );
    }
    ready
}

/// Runs the docker CLI against the test engine, for checks from outside Gantry.
pub fn docker(args: &[&str]) -> String {
    let output = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A hub, and agents connected to it.
#[allow(missing_debug_implementations)] // holds join handles and temp dirs; nothing to show
pub struct World {
    pub url: String,
    pub hub: Hub,
    pub admin: HubClient,
    pub dir: tempfile::TempDir,
    agents: Vec<RunningAgent>,
    stop_hub: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// An agent running in this process.
#[allow(missing_debug_implementations)] // likewise
pub struct RunningAgent {
    pub agent: Agent,
    pub host_dir: PathBuf,
    pub stop: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

impl World {
    /// A hub on a free port with an admin token; `None` when Docker is missing
    /// and not required.
    pub async fn start() -> Option<World> {
        if !docker_ready() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = HubConfig {
            heartbeat: Duration::from_secs(2),
            ..HubConfig::default()
        };
        let hub = Hub::open(&dir.path().join("hub"), None, config, Arc::new(SystemClock))
            .await
            .unwrap();
        let token = hub
            .db()
            .create_admin_token("tester", hub.now())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop_hub, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gantry_hub::serve(listener, hub.clone(), async move {
            let _ = stopped.await;
        }));
        let admin = HubClient::new(&url, Token::new(token)).unwrap();
        Some(World {
            url,
            hub,
            admin,
            dir,
            agents: Vec::new(),
            stop_hub: Some(stop_hub),
            server: Some(server),
        })
    }

    /// Adds a node and starts an agent for it; `tweak` adjusts its settings.
    pub async fn agent(
        &mut self,
        name: &str,
        labels: &[&str],
        tweak: impl FnOnce(&mut AgentConfig),
    ) -> &RunningAgent {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let token = self
            .hub
            .db()
            .add_node(name, &labels, self.hub.now())
            .await
            .unwrap();
        let host_dir = self.dir.path().join(format!("agent-{name}"));
        let flags = Flags {
            server: Some(self.url.clone()),
            token: Some(Token::new(token)),
            host_dir: Some(host_dir.clone()),
            name: Some(name.to_owned()),
            ..Flags::default()
        };
        let mut config = AgentConfig::resolve(
            flags,
            &|name| std::env::var(name).ok().filter(|_| name == "DOCKER_HOST"),
            None,
        )
        .unwrap();
        config.stop_grace = Duration::from_secs(2);
        config.pull_always = false;
        // Tests end by stopping their agents: no container is left behind.
        config.stop_tasks_on_exit = true;
        tweak(&mut config);
        let stop = CancellationToken::new();
        let agent = Agent::new(config, stop.clone()).await.unwrap();
        let runner = agent.clone();
        let join = tokio::spawn(async move {
            runner.run().await.unwrap();
        });
        self.agents.push(RunningAgent {
            agent,
            host_dir,
            stop,
            join,
        });
        self.agents.last().unwrap()
    }

    /// Submits a job written in YAML and returns the task's id.
    pub async fn submit(&self, yaml: &str) -> String {
        let spec = JobSpec::parse(yaml, Format::Yaml).unwrap();
        self.admin.submit(&spec).await.unwrap()
    }

    /// Waits until the task ends (60 s at most) and returns it.
    pub async fn finished(&self, id: &str) -> Task {
        self.until(id, |task| task.state.is_terminal(), "to end")
            .await
    }

    /// Waits until `check` holds for the task (60 s at most).
    pub async fn until(&self, id: &str, check: impl Fn(&Task) -> bool, what: &str) -> Task {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let task = self.admin.task(id).await.unwrap();
            if check(&task) {
                return task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {id} did not come {what}: {task:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The task's log as the hub holds it.
    pub async fn log(&self, id: &str) -> Vec<u8> {
        use futures::StreamExt;
        let mut stream = Box::pin(self.admin.log(id, 0, false).await.unwrap());
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        bytes
    }

    /// Stops the agents and the hub, and waits for them.
    pub async fn stop(mut self) {
        for agent in self.agents.drain(..) {
            agent.stop.cancel();
            tokio::time::timeout(Duration::from_secs(60), agent.join)
                .await
                .expect("the agent stops")
                .unwrap();
        }
        if let Some(stop) = self.stop_hub.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

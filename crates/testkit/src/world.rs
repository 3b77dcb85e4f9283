//! The world end-to-end tests run in: a real hub on `127.0.0.1:0`, real agents
//! in the same process, and the real Docker engine named by `DOCKER_HOST`.
//!
//! One process for all of it, so a test can look at the hub's records, the
//! agents' host dirs and the engine's containers at any moment, and a failure
//! shows every side's log in one place.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_agent::config::{AgentConfig, Flags};
use gantry_agent::node::Agent;
use gantry_client::{HubClient, Token};
use gantry_hub::{Hub, HubConfig, SystemClock};
use gantry_protocol::job::{Format, JobSpec};
use gantry_protocol::wire::Task;
use tokio_util::sync::CancellationToken;

use crate::hub::Serving;
use crate::services::docker_ready;

/// A hub, and agents connected to it.
#[allow(missing_debug_implementations)] // holds join handles and temp dirs; nothing to show
pub struct World {
    pub url: String,
    pub hub: Hub,
    pub admin: HubClient,
    /// The admin token of `admin`, for child processes (`gantry drive`).
    pub admin_token: String,
    pub dir: tempfile::TempDir,
    agents: Vec<RunningAgent>,
    serving: Option<Serving>,
    /// The hub's PostgreSQL database, dropped at [`World::stop`].
    postgres: Option<crate::hub::Database>,
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
        World::start_on(crate::Backend::Sqlite).await
    }

    /// [`World::start`] with the hub on `backend`'s database; `None` also
    /// when PostgreSQL is asked for and absent (the test says it skipped).
    pub async fn start_on(backend: crate::Backend) -> Option<World> {
        if !docker_ready() {
            return None;
        }
        let postgres = match backend {
            crate::Backend::Sqlite => None,
            crate::Backend::Postgres => Some(crate::hub::Database::create().await?),
        };
        let database = postgres.as_ref().map(crate::hub::Database::url);
        let dir = tempfile::tempdir().unwrap();
        let config = HubConfig {
            heartbeat: Duration::from_secs(2),
            ..HubConfig::default()
        };
        let (hub, token) = crate::hub::open(
            &dir.path().join("hub"),
            database.as_deref(),
            config,
            Arc::new(SystemClock),
        )
        .await;
        let serving = Serving::start(hub.clone()).await;
        let admin = HubClient::new(&serving.url, Token::new(token.clone())).unwrap();
        Some(World {
            url: serving.url.clone(),
            hub,
            admin,
            admin_token: token,
            dir,
            agents: Vec::new(),
            serving: Some(serving),
            postgres,
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
        // No disk budget unless the test sets one: the default depends on
        // the machine's free disk (see `AgentLaunch::command`).
        config.disk = gantry_agent::disk::DiskBudget {
            max_bytes: None,
            max_percent: None,
            min_free_bytes: None,
        };
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
        if let Some(serving) = self.serving.take() {
            let _ = serving.stop().await;
        }
        if let Some(database) = self.postgres.take() {
            database.drop_it().await;
        }
    }
}

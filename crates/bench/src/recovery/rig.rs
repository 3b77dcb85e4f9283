//! The recovery benchmark's rig: one part's hub and how its agent starts,
//! the agent as a process to kill, restart and read the memory of, and the
//! waits that fail as soon as the agent dies.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_testkit::children::agent_connected;
use gantry_testkit::engine::remove_labeled;
use gantry_testkit::procfs::{self, Memory};
use gantry_testkit::{AgentLaunch, HubChild, Process, Scratch};
use serde_json::Value;

use super::api::HubApi;
use super::{POLL, STEP_LIMIT};
use crate::hub::start_hub;
use crate::{hub_admin, say, tail};

/// One part's hub, with an admin and a node, how its agent starts, and the
/// guards that clean up after it.
pub(super) struct Rig {
    // Fields drop in this order: the hub, then what the agents left on the
    // engine, then the folder.
    pub hub: HubChild,
    pub api: HubApi,
    leftovers: Leftovers,
    pub launch: AgentLaunch,
    pub data: PathBuf,
    pub hub_log: PathBuf,
    pub agent_log: PathBuf,
    pub socket: PathBuf,
    /// Held for its life: the folder goes with the rig.
    _scratch: Scratch,
}

impl Rig {
    /// A fresh folder named for `part`, and a hub on a free port with an
    /// admin and the node `node`, whose agent runs `max_tasks` at most.
    pub async fn start(gantry: &Path, part: &str, node: String, max_tasks: usize) -> Result<Rig> {
        let scratch = Scratch::named(part)?;
        let leftovers = Leftovers {
            node: node.clone(),
            tasks: Vec::new(),
        };
        let data = scratch.path().join("hub");
        let hub_log = scratch.path().join("hub.log");
        let admin = hub_admin(
            gantry,
            &data,
            &["hub", "token", "create", "--admin", "bench"],
        )
        .await?;
        let token = hub_admin(gantry, &data, &["hub", "node", "add", &node]).await?;
        let hub = start_hub(gantry, &data, "127.0.0.1:0", append(&hub_log)?)?;
        let api = HubApi::new(&hub.url(""), &admin)?;
        let host_dir = scratch.path().join("agent");
        let launch = AgentLaunch {
            gantry: gantry.to_owned(),
            server: hub.url(""),
            token,
            name: node,
            host_dir: host_dir.clone(),
            config_home: scratch.path().to_owned(),
            docker_host: None,
            args: vec!["--max-tasks".into(), max_tasks.to_string()],
        };
        Ok(Rig {
            hub,
            api,
            leftovers,
            launch,
            data,
            hub_log,
            agent_log: scratch.path().join("agent.log"),
            socket: host_dir.join("agent.sock"),
            _scratch: scratch,
        })
    }

    /// Starts the agent on the rig's host dir and waits until it reached
    /// the hub.
    pub async fn agent(&self) -> Result<Process> {
        let agent = spawn_agent(&self.launch, &self.agent_log)?;
        wait_connected(&agent, &self.socket, &self.agent_log).await?;
        Ok(agent)
    }

    /// Submits `job` as the admin; its containers are removed with the rig.
    pub async fn submit(&mut self, job: &Value) -> Result<String> {
        let id = self.api.submit(job).await?;
        self.leftovers.tasks.push(id.clone());
        Ok(id)
    }

    /// Polls `done` until it holds, while the agent lives (see [`wait_until`]).
    pub async fn wait(
        &self,
        agent: &Process,
        what: &str,
        done: impl AsyncFnMut() -> Result<bool>,
    ) -> Result<()> {
        wait_until(agent, &self.agent_log, what, done).await
    }
}

/// Starts `gantry agent start` as `launch` says, appending its stderr to `log`.
pub(super) fn spawn_agent(launch: &AgentLaunch, log: &Path) -> Result<Process> {
    Process::spawn(
        launch
            .command()
            .env("PULL_ALWAYS", "false")
            .stdout(Stdio::null())
            .stderr(append(log)?),
    )
    .context("cannot start the agent")
}

/// Whether the agent has exited: a process that exited (a zombie, or reaped)
/// is not alive.
pub(super) fn exited(agent: &Process) -> bool {
    !procfs::alive(agent.pid())
}

/// The agent's memory; zeros once it is gone.
pub(super) fn memory(agent: &Process) -> Memory {
    procfs::memory(agent.pid()).unwrap_or_default()
}

/// SIGTERM, as a service manager would send, then SIGKILL after 30 s.
pub(super) fn stop_agent(mut agent: Process) {
    if agent.terminate(Duration::from_secs(30)).is_none() {
        say("bench recovery: the agent ignored SIGTERM for 30 s and was killed");
    }
}

/// The containers and networks a run's agent left, removed on drop: a
/// killed agent cannot remove its own.
struct Leftovers {
    node: String,
    tasks: Vec<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let labels: Vec<String> = std::iter::once(format!("gantry.node={}", self.node))
            .chain(self.tasks.iter().map(|id| format!("gantry.task={id}")))
            .collect();
        remove_labeled(None, &labels);
    }
}

/// Waits until a freshly spawned agent's status says connected.
async fn wait_connected(agent: &Process, socket: &Path, log: &Path) -> Result<()> {
    wait_until(agent, log, "the agent to connect", async || {
        Ok(agent_connected(socket).await)
    })
    .await
}

/// Polls `done` every [`POLL`] until it holds, for at most [`STEP_LIMIT`];
/// fails at once if the agent exits meanwhile.
pub(super) async fn wait_until(
    agent: &Process,
    log: &Path,
    what: &str,
    mut done: impl AsyncFnMut() -> Result<bool>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if done().await? {
            return Ok(());
        }
        if exited(agent) {
            bail!("the agent exited while waiting for {what}{}", tail(log));
        }
        if started.elapsed() > STEP_LIMIT {
            bail!("waited {} s for {what}{}", STEP_LIMIT.as_secs(), tail(log));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Opens `path` for appending, creating it.
pub(super) fn append(path: &Path) -> Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

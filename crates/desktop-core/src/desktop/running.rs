//! The agent inside the app: the slot it runs in, how it starts (for a hub
//! elsewhere, or in local mode on the embedded hub) and stops, and why it
//! stopped when it stopped on its own.
//!
//! Starting and stopping are here, apart from the screens that ask for them
//! (the wizard, Settings), because every start must free the host dir the
//! same way: the old agent lets go of its socket and the old embedded hub
//! removes its address file before a new one starts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_agent::config::AgentConfig;
use gantry_agent::control;
use gantry_agent::node::{Agent, AgentError};
use gantry_client::HubClient;
use tokio_util::sync::CancellationToken;

use super::Desktop;
use crate::embedded_hub::EmbeddedHub;
use crate::keychain;
use crate::settings::Mode;
use crate::view::UiError;

/// The agent running in the app, with what it was started with.
#[derive(Debug, Clone)]
pub(super) struct RunningAgent {
    /// The agent; cheap to clone.
    pub(super) agent: Agent,
    /// Stops this agent (a child of the app's token).
    pub(super) stop: CancellationToken,
    /// Whether it runs on the embedded hub (local mode).
    pub(super) local: bool,
    /// The embedded hub, as its admin (local mode): tasks are submitted
    /// and looked up there.
    pub(super) admin: Option<HubClient>,
    /// Cancelled when the embedded hub has stopped (local mode).
    hub_stopped: Option<CancellationToken>,
    /// Whether the hub ever answered this agent: after that, silence is
    /// "offline", before it "connecting".
    pub(super) ever_connected: Arc<AtomicBool>,
}

/// Where the running agent sits; empty before setup and after a failure.
#[derive(Debug, Default)]
pub(super) struct AgentSlot {
    running: Mutex<Option<RunningAgent>>,
    /// Restarts under way: the slot is empty only for a moment, and the
    /// status must not read as "not set up" meanwhile (the window would
    /// leave the screen the person saved from).
    restarts: AtomicUsize,
}

/// A restart under way, until dropped.
pub(super) struct Restarting<'a>(&'a AtomicUsize);

impl Drop for Restarting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AgentSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<RunningAgent>> {
        self.running.lock().expect("running poisoned")
    }

    /// The running agent and what it was started with, if any.
    pub(super) fn get(&self) -> Option<RunningAgent> {
        self.lock().clone()
    }

    /// Whether an agent runs.
    pub(super) fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// The running agent, or the UI's error when there is none.
    pub(super) fn agent(&self) -> Result<Agent, UiError> {
        self.lock()
            .as_ref()
            .map(|r| r.agent.clone())
            .ok_or_else(|| UiError::new("not_running", "Gantry is not set up yet"))
    }

    /// The embedded hub's admin client, in local mode.
    pub(super) fn admin(&self) -> Option<HubClient> {
        self.lock().as_ref().and_then(|r| r.admin.clone())
    }

    /// Whether the running agent cancels its tasks when it stops (Quit asks).
    pub(super) fn set_stop_tasks_on_exit(&self, stop_tasks: bool) {
        if let Some(running) = self.lock().as_ref() {
            running.agent.set_stop_tasks_on_exit(stop_tasks);
        }
    }

    /// Marks a restart under way until the answer is dropped.
    pub(super) fn begin_restart(&self) -> Restarting<'_> {
        self.restarts.fetch_add(1, Ordering::SeqCst);
        Restarting(&self.restarts)
    }

    /// Whether a restart is under way.
    pub(super) fn restarting(&self) -> bool {
        self.restarts.load(Ordering::SeqCst) > 0
    }

    fn put(&self, running: RunningAgent) {
        *self.lock() = Some(running);
    }

    fn take(&self) -> Option<RunningAgent> {
        self.lock().take()
    }

    /// Empties the slot if its agent was stopped (it stopped on its own); a
    /// newer agent started meanwhile stays.
    fn clear_if_stopped(&self) {
        let mut running = self.lock();
        if running.as_ref().is_some_and(|r| r.stop.is_cancelled()) {
            *running = None;
        }
    }
}

/// Why the agent stopped on its own, shown by the wizard and the tray until
/// an agent starts again.
#[derive(Debug, Default)]
pub(super) struct AgentFailure {
    /// Why, and whether it was the hub removing the node or replacing its token.
    why: Mutex<Option<(String, bool)>>,
}

impl AgentFailure {
    fn set(&self, why: Option<String>) {
        *self.why.lock().expect("failure poisoned") = why.map(|why| (why, false));
    }

    /// Keeps the hub's sentence: it removed this node or replaced its token.
    fn set_revoked(&self, sentence: String) {
        *self.why.lock().expect("failure poisoned") = Some((sentence, true));
    }

    /// Why, if it stopped.
    pub(super) fn get(&self) -> Option<String> {
        self.why
            .lock()
            .expect("failure poisoned")
            .as_ref()
            .map(|(why, _)| why.clone())
    }

    /// The hub's sentence, if it stopped because the hub removed the node
    /// or replaced its token.
    pub(super) fn revoked(&self) -> Option<String> {
        self.why
            .lock()
            .expect("failure poisoned")
            .as_ref()
            .filter(|(_, revoked)| *revoked)
            .map(|(why, _)| why.clone())
    }
}

impl Desktop {
    /// Starts what needs no setup: the status and GPU samplers, then the
    /// agent when the configuration (environment, agent.toml, the settings
    /// and the keychain) says which hub and token to use. Returns whether the
    /// wizard must show.
    pub async fn boot(self: &Arc<Desktop>) -> bool {
        self.spawn_status_ticker();
        self.spawn_sampler();
        match self.start_from_settings().await {
            Ok(started) => !started,
            Err(error) => {
                self.fail(error.message);
                true
            }
        }
    }

    /// Starts the agent as the configuration (environment, agent.toml, the
    /// settings and the keychain) says; `false` when they name no hub or no
    /// token yet.
    async fn start_from_settings(self: &Arc<Desktop>) -> Result<bool, UiError> {
        let settings = self.settings.get();
        let config =
            crate::config::resolve(&settings).map_err(|e| UiError::new("config", e.to_string()))?;
        match (settings.mode, &config.server, &config.token) {
            // The environment or agent.toml name a hub and a token: no wizard.
            (_, Some(_), Some(_)) => self.start_agent(config, None).await?,
            (Some(Mode::Local), _, _) => self.start_local(config).await?,
            (Some(Mode::Remote), _, _) => {
                let Some(server) = config.server.clone().or(settings.server.clone()) else {
                    return Ok(false);
                };
                let lookup = server.clone();
                let token = tokio::task::spawn_blocking(move || keychain::load(&lookup))
                    .await
                    .map_err(|e| UiError::new("keychain", e.to_string()))?
                    .map_err(|e| UiError::new("keychain", e.to_string()))?;
                let Some(token) = token else {
                    return Ok(false);
                };
                let config = AgentConfig {
                    server: Some(server),
                    token: Some(token),
                    ..config
                };
                self.start_agent(config, None).await?
            }
            (None, _, _) => return Ok(false),
        }
        Ok(true)
    }

    /// Local mode: starts the embedded hub in the host dir, then the agent
    /// on it.
    pub(super) async fn start_local(
        self: &Arc<Desktop>,
        config: AgentConfig,
    ) -> Result<(), UiError> {
        check_host_dir_free(&config).await?;
        std::fs::create_dir_all(&config.host_dir).map_err(|e| {
            UiError::new(
                "host_dir",
                format!("cannot create {}: {e}", config.host_dir.display()),
            )
        })?;
        let hub = EmbeddedHub::start(
            &config.host_dir,
            &config.name,
            CancellationToken::new(),
            &self.jobs.tracker,
        )
        .await
        .map_err(|e| UiError::new("local_hub", format!("{e:#}")))?;
        let config = AgentConfig {
            server: Some(hub.server.clone()),
            token: Some(hub.node_token.clone()),
            ..config
        };
        self.start_agent(config, Some(hub)).await
    }

    /// Starts the agent with `config` (on `hub` in local mode): its control
    /// socket, its run, and the watch on its events, all in the app's jobs.
    pub(super) async fn start_agent(
        self: &Arc<Desktop>,
        config: AgentConfig,
        hub: Option<EmbeddedHub>,
    ) -> Result<(), UiError> {
        let stop_hub = |hub: &Option<EmbeddedHub>| {
            if let Some(hub) = hub {
                hub.stop();
            }
        };
        if let Err(error) = check_host_dir_free(&config).await {
            let_go(hub).await;
            return Err(error);
        }
        let stop = self.jobs.stop.child_token();
        let agent = match Agent::new(config, stop.clone()).await {
            Ok(agent) => agent,
            Err(error) => {
                let_go(hub).await;
                return Err(UiError::new("agent", error.to_string()));
            }
        };
        self.failure.set(None);
        let local = hub.is_some();
        let admin = hub
            .as_ref()
            .and_then(|h| HubClient::new(&h.server, h.admin_token.clone()).ok());
        let hub_stopped = hub.as_ref().map(|h| h.stopped.clone());
        let socket = agent.clone();
        let socket_stop = stop.clone();
        self.jobs.tracker.spawn(async move {
            if let Err(error) = control::serve(socket, socket_stop).await {
                tracing::warn!(%error, "the control socket failed");
            }
        });
        let runner = agent.clone();
        let desktop = Arc::clone(self);
        let ended = stop.clone();
        self.jobs.tracker.spawn(async move {
            let result = runner.run().await;
            // The hub goes last: the agent ships its final logs to it.
            stop_hub(&hub);
            if let Err(error) = result {
                tracing::error!(%error, "the agent stopped");
                // It will not come back by itself (a refused token, the node
                // removed at the hub): the wizard shows again, with why.
                ended.cancel();
                desktop.agent.clear_if_stopped();
                match error {
                    AgentError::Revoked(sentence) => {
                        desktop.failure.set_revoked(sentence);
                        desktop.refresh();
                    }
                    error => desktop.fail(error.to_string()),
                }
            }
        });
        let events = agent.subscribe();
        let desktop = Arc::clone(self);
        let events_stop = stop.clone();
        self.jobs
            .tracker
            .spawn(async move { desktop.follow_events(events, events_stop).await });
        self.agent.put(RunningAgent {
            agent,
            stop,
            local,
            admin,
            hub_stopped,
            ever_connected: Arc::new(AtomicBool::new(false)),
        });
        self.refresh();
        Ok(())
    }

    /// Stops the agent (leaving its containers running) and waits for it.
    pub(super) async fn stop_agent(&self) {
        if let Some(running) = self.agent.take() {
            running.stop.cancel();
            // Its jobs are in the shared tracker; wait for the agent to let go
            // of the host dir's socket, at most a while.
            let socket = running.agent.host().socket();
            let mut released = false;
            for _ in 0..100 {
                if tokio::net::UnixStream::connect(&socket).await.is_err() {
                    released = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !released {
                tracing::warn!("the stopped agent still answers on its socket after 10 s");
            }
            // The embedded hub stops after the agent shipped its last logs;
            // a new one must not start (and write its address) before the
            // old one has removed its own.
            if let Some(stopped) = running.hub_stopped
                && tokio::time::timeout(Duration::from_secs(30), stopped.cancelled())
                    .await
                    .is_err()
            {
                tracing::warn!("the embedded hub did not stop within 30 s");
            }
        }
    }

    /// Stops the agent and starts it again from the settings; a start that
    /// fails is kept as why the agent cannot run, and shown.
    pub(super) async fn restart(self: &Arc<Desktop>) -> Result<(), UiError> {
        let restarted = {
            let _restarting = self.agent.begin_restart();
            self.restart_quietly().await
        };
        self.settle(&restarted);
        restarted
    }

    /// Stops the agent and starts it again from the settings, saying nothing
    /// of a failure: for a caller that may yet put things back (under
    /// [`AgentSlot::begin_restart`], then [`Desktop::settle`]).
    pub(super) async fn restart_quietly(self: &Arc<Desktop>) -> Result<(), UiError> {
        let began = std::time::Instant::now();
        self.stop_agent().await;
        tracing::info!(took = ?began.elapsed(), "agent stopped for a restart");
        let started = self.start_from_settings().await;
        tracing::info!(took = ?began.elapsed(), "agent restart done");
        match started {
            Ok(true) => Ok(()),
            Ok(false) => Err(UiError::new(
                "not_set_up",
                "Saved. Gantry is not set up yet: choose a hub or local mode first",
            )),
            Err(error) => Err(error),
        }
    }

    /// Shows how a restart ended: a failed start as why the agent cannot
    /// run, else the status as it is now.
    pub(super) fn settle(&self, restarted: &Result<(), UiError>) {
        match restarted {
            Err(error) if error.code != "not_set_up" => self.fail(error.message.clone()),
            _ => self.refresh(),
        }
    }

    /// Keeps why the agent cannot run, and shows it.
    pub(super) fn fail(&self, message: String) {
        self.failure.set(Some(message));
        self.refresh();
    }

    /// Why the agent cannot run, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.failure.get()
    }
}

/// Stops an embedded hub whose agent did not start, and waits (at most a
/// while) until it has removed its address file, so that the next hub's
/// address is not removed after it is written.
async fn let_go(hub: Option<EmbeddedHub>) {
    let Some(hub) = hub else { return };
    hub.stop();
    if tokio::time::timeout(Duration::from_secs(30), hub.stopped.cancelled())
        .await
        .is_err()
    {
        tracing::warn!("the embedded hub did not stop within 30 s");
    }
}

/// Refuses a host dir whose socket another agent answers.
async fn check_host_dir_free(config: &AgentConfig) -> Result<(), UiError> {
    control::check_free(&config.host_dir).await.map_err(|_| {
        UiError::new(
            "host_dir",
            format!(
                "another Gantry agent already uses the storage folder {}; stop it (gantry agent status shows it) or choose another folder",
                config.host_dir.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gantry_agent::config::{AgentConfig, Flags};
    use gantry_client::Token;
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// The hub removing this computer's node stops the agent, and the wizard
    /// comes back with the hub's sentence as its reason (not as an error to retry).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_node_brings_the_wizard_back_with_the_hubs_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let config = gantry_hub::HubConfig {
            heartbeat: Duration::from_secs(1),
            ..gantry_hub::HubConfig::default()
        };
        let hub = gantry_hub::Hub::open(
            &dir.path().join("hub"),
            None,
            config,
            Arc::new(gantry_hub::SystemClock),
        )
        .await
        .unwrap();
        let token = hub.db().add_node("desk", &[], hub.now()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(gantry_hub::serve(
            listener,
            hub.clone(),
            stop.clone().cancelled_owned(),
        ));

        let desktop = Desktop::new(
            dir.path().join("desktop.json"),
            crate::settings::Settings::default(),
        );
        let agent_config = AgentConfig::resolve(
            Flags {
                server: Some(url),
                token: Some(Token::new(token)),
                host_dir: Some(dir.path().join("agent")),
                name: Some("desk".into()),
                ..Flags::default()
            },
            &|name| (name == "DOCKER_HOST").then(|| "unix:///nonexistent/docker.sock".into()),
            None,
        )
        .unwrap();
        desktop.start_agent(agent_config, None).await.unwrap();
        let connected = async {
            while !desktop
                .agent
                .get()
                .is_some_and(|r| r.agent.status().connected)
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), connected)
            .await
            .expect("the agent reaches the hub");

        let id = hub.db().find_node("desk").await.unwrap().unwrap();
        hub.db().remove_node(&id, hub.now()).await.unwrap();
        let refused = async {
            loop {
                if let Some(reason) = desktop.failure.revoked() {
                    return reason;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let reason = tokio::time::timeout(Duration::from_secs(30), refused)
            .await
            .expect("the agent is refused at its next heartbeat");
        assert!(
            reason.starts_with("node desk was removed from the hub at "),
            "{reason}"
        );
        let setup = desktop.setup().await;
        assert!(setup.needs_setup, "the wizard shows");
        assert_eq!(setup.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(setup.problem, None, "said once, as the reason");
        stop.cancel();
    }
}

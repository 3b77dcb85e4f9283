//! The node: this computer as the hub sees it. Holds the agent core running
//! on the app's tokio runtime (and, in local mode, the embedded hub), and
//! makes the [`Status`] the tray and the UI show.
//!
//! Every job spawned here is tracked by one [`TaskTracker`] and stopped by one
//! [`CancellationToken`], both awaited at Quit.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_agent::agent::{Agent, AgentEvent};
use gantry_agent::config::{AgentConfig, Flags, default_config_file, default_host_dir};
use gantry_agent::control;
use gantry_agent::monitor::Monitor;
use gantry_client::{ClientError, HubClient, Token};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::keychain;
use crate::local::EmbeddedHub;
use crate::settings::{Mode, Settings};
use crate::view::{Check, Connection, LogBatch, MetricsSample, Setup, Status, TaskView, UiError};

mod dashboard;

/// How many ended tasks the UI lists.
const RECENT: usize = 50;

/// The agent core inside the app, and what the tray and UI show of it.
pub struct Node {
    settings_path: PathBuf,
    settings: Mutex<Settings>,
    running: Mutex<Option<Running>>,
    status: watch::Sender<Status>,
    /// Tasks that ended while the app ran, newest first.
    recent: Mutex<VecDeque<TaskView>>,
    /// The last view of each held task, kept to describe it once it ends.
    seen: Mutex<HashMap<String, TaskView>>,
    timed_pause: Mutex<Option<TimedPause>>,
    gpu_percent: Mutex<Option<u32>>,
    /// Why the agent stopped on its own (a refused token, say).
    failure: Mutex<Option<String>>,
    follows: Mutex<HashMap<u32, CancellationToken>>,
    next_follow: AtomicU32,
    /// The machine's samples, one a second, for the last five minutes.
    metrics: Mutex<VecDeque<MetricsSample>>,
    /// Each new sample, for the Overview.
    samples: tokio::sync::broadcast::Sender<MetricsSample>,
    /// The sampler's monitor, also asked which processes hold GPU memory.
    monitor: Mutex<Option<Arc<Mutex<Monitor>>>>,
    /// What Task detail shows of each task seen: its spec and timeline.
    details: Mutex<HashMap<String, dashboard::Detail>>,
    /// Hears about ended tasks, for notifications.
    ended: tokio::sync::broadcast::Sender<TaskView>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

struct Running {
    agent: Agent,
    stop: CancellationToken,
    local: bool,
    /// The embedded hub, as its admin (local mode): tasks are submitted
    /// and looked up there.
    admin: Option<HubClient>,
    /// Cancelled when the embedded hub has stopped (local mode).
    hub_stopped: Option<CancellationToken>,
    ever_connected: Arc<AtomicBool>,
}

struct TimedPause {
    until_ms: i64,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Node {
    /// A node with no agent yet; `settings_path` is the app's settings file.
    pub fn new(settings_path: PathBuf, settings: Settings) -> Arc<Node> {
        let host_dir = resolve_config(&settings)
            .map(|c| c.host_dir.display().to_string())
            .unwrap_or_default();
        Arc::new(Node {
            settings_path,
            settings: Mutex::new(settings),
            running: Mutex::new(None),
            status: watch::channel(Status {
                connection: Connection::Setup,
                node: String::new(),
                server: None,
                paused: false,
                paused_until_ms: None,
                draining: false,
                tasks: Vec::new(),
                recent: Vec::new(),
                docker_problem: None,
                gpu_percent: None,
                host_dir,
            })
            .0,
            recent: Mutex::new(VecDeque::new()),
            seen: Mutex::new(HashMap::new()),
            timed_pause: Mutex::new(None),
            gpu_percent: Mutex::new(None),
            failure: Mutex::new(None),
            follows: Mutex::new(HashMap::new()),
            next_follow: AtomicU32::new(1),
            metrics: Mutex::new(VecDeque::new()),
            samples: tokio::sync::broadcast::channel(16).0,
            monitor: Mutex::new(None),
            details: Mutex::new(HashMap::new()),
            ended: tokio::sync::broadcast::channel(64).0,
            stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
        })
    }

    /// Starts what needs no setup: the status and GPU samplers, then the
    /// agent when the configuration (environment, agent.toml, the settings
    /// and the keychain) says which hub and token to use. Returns whether the
    /// wizard must show.
    pub async fn boot(self: &Arc<Node>) -> bool {
        self.spawn_samplers();
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
    async fn start_from_settings(self: &Arc<Node>) -> Result<bool, UiError> {
        let settings = self.settings.lock().expect("settings poisoned").clone();
        let config =
            resolve_config(&settings).map_err(|e| UiError::new("config", e.to_string()))?;
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

    /// What the wizard shows.
    pub async fn setup(&self) -> Setup {
        let settings = self.settings.lock().expect("settings poisoned").clone();
        let config = resolve_config(&settings).ok();
        let host_dir = config
            .as_ref()
            .map(|c| c.host_dir.clone())
            .unwrap_or_else(default_host_dir);
        let server = config
            .as_ref()
            .and_then(|c| c.server.clone())
            .or(settings.server.clone());
        let keychain = match tokio::task::spawn_blocking(keychain::check).await {
            Ok(Ok(())) => Check {
                ok: true,
                summary: "The system keychain is ready to keep the token".into(),
                guidance: None,
            },
            Ok(Err(error)) => Check {
                ok: false,
                summary: "The system keychain cannot be used".into(),
                guidance: Some(error.to_string()),
            },
            Err(error) => Check {
                ok: false,
                summary: "The system keychain check failed".into(),
                guidance: Some(error.to_string()),
            },
        };
        let docker_host = config.as_ref().and_then(|c| c.docker_host.clone());
        let docker = match gantry_agent::docker::Engine::connect(
            docker_host.as_deref(),
            Duration::from_secs(5),
        )
        .await
        {
            Ok(engine) => Check {
                ok: true,
                summary: match engine.version().await {
                    Ok(version) => format!("Docker {version} answers"),
                    Err(_) => "Docker answers".into(),
                },
                guidance: None,
            },
            Err(error) => Check {
                ok: false,
                summary: "Docker is not available".into(),
                guidance: Some(format!(
                    "{error}. Install Docker Engine (on Debian or Ubuntu: sudo apt install docker.io), start it, \
                     and add yourself to the docker group (sudo usermod -aG docker $USER, then log in again). \
                     Tasks with executor: process run without it."
                )),
            },
        };
        let gpu = gpu_check(&host_dir).await;
        let needs_setup = self.running.lock().expect("running poisoned").is_none();
        Setup {
            needs_setup,
            server,
            host_dir: host_dir.display().to_string(),
            keychain,
            docker,
            gpu,
            launch_at_login: false,
            notifications: settings.notify.into(),
            problem: self.failure(),
        }
    }

    /// Checks `token` against the hub at `server`, keeps it in the keychain,
    /// remembers the choice and starts the agent.
    pub async fn connect(
        self: &Arc<Node>,
        server: String,
        token: String,
        host_dir: Option<PathBuf>,
    ) -> Result<(), UiError> {
        let server = server.trim().trim_end_matches('/').to_owned();
        if server.is_empty() {
            return Err(UiError::new(
                "bad_address",
                "Enter the hub's address, e.g. https://hub.example.com",
            ));
        }
        let token = Token::new(token);
        if token.expose().is_empty() {
            return Err(UiError::new(
                "wrong_token",
                "Paste the node token your hub's admin gave you (it starts with gantry_node_)",
            ));
        }
        check_hub(&server, &token).await?;
        let (save_server, save_token) = (server.clone(), token.clone());
        tokio::task::spawn_blocking(move || keychain::save(&save_server, &save_token))
            .await
            .map_err(|e| UiError::new("keychain", e.to_string()))?
            .map_err(|e| UiError::new("keychain", e.to_string()))?;
        let settings = self.update_settings(|s| {
            s.mode = Some(Mode::Remote);
            s.server = Some(server.clone());
            if host_dir.is_some() {
                s.host_dir = host_dir.clone();
            }
        })?;
        let config =
            resolve_config(&settings).map_err(|e| UiError::new("config", e.to_string()))?;
        self.stop_agent().await;
        self.start_agent(
            AgentConfig {
                server: Some(server),
                token: Some(token),
                ..config
            },
            None,
        )
        .await
    }

    /// Local mode: starts the embedded hub and the agent on it.
    pub async fn use_local(self: &Arc<Node>, host_dir: Option<PathBuf>) -> Result<(), UiError> {
        let settings = self.update_settings(|s| {
            s.mode = Some(Mode::Local);
            if host_dir.is_some() {
                s.host_dir = host_dir.clone();
            }
        })?;
        let config =
            resolve_config(&settings).map_err(|e| UiError::new("config", e.to_string()))?;
        self.stop_agent().await;
        self.start_local(config).await
    }

    fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, UiError> {
        let mut settings = self.settings.lock().expect("settings poisoned");
        change(&mut settings);
        settings.save(&self.settings_path).map_err(|e| {
            UiError::new(
                "settings",
                format!("cannot save {}: {e}", self.settings_path.display()),
            )
        })?;
        Ok(settings.clone())
    }

    /// Keeps which notifications show.
    pub fn set_notifications(
        &self,
        notifications: crate::view::Notifications,
    ) -> Result<(), UiError> {
        self.update_settings(|s| s.notify = notifications.into())
            .map(|_| ())
    }

    /// Keeps the update server (`None`: updates off). Only desktop.json
    /// changes: the agent goes on as it is.
    pub fn set_update_endpoint(&self, endpoint: Option<String>) -> Result<(), UiError> {
        self.update_settings(|s| s.update_endpoint = endpoint)
            .map(|_| ())
    }

    /// The settings now.
    pub fn settings(&self) -> Settings {
        self.settings.lock().expect("settings poisoned").clone()
    }

    async fn start_local(self: &Arc<Node>, config: AgentConfig) -> Result<(), UiError> {
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
            &self.tracker,
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

    async fn start_agent(
        self: &Arc<Node>,
        config: AgentConfig,
        hub: Option<EmbeddedHub>,
    ) -> Result<(), UiError> {
        let stop_hub = |hub: &Option<EmbeddedHub>| {
            if let Some(hub) = hub {
                hub.stop();
            }
        };
        if let Err(error) = check_host_dir_free(&config).await {
            stop_hub(&hub);
            return Err(error);
        }
        let stop = self.stop.child_token();
        let agent = match Agent::new(config, stop.clone()).await {
            Ok(agent) => agent,
            Err(error) => {
                stop_hub(&hub);
                return Err(UiError::new("agent", error.to_string()));
            }
        };
        *self.failure.lock().expect("failure poisoned") = None;
        let local = hub.is_some();
        let admin = hub
            .as_ref()
            .and_then(|h| HubClient::new(&h.server, h.admin_token.clone()).ok());
        let hub_stopped = hub.as_ref().map(|h| h.stopped.clone());
        let socket = agent.clone();
        let socket_stop = stop.clone();
        self.tracker.spawn(async move {
            if let Err(error) = control::serve(socket, socket_stop).await {
                tracing::warn!(%error, "the control socket failed");
            }
        });
        let runner = agent.clone();
        let node = Arc::clone(self);
        let ended = stop.clone();
        self.tracker.spawn(async move {
            let result = runner.run().await;
            // The hub goes last: the agent ships its final logs to it.
            stop_hub(&hub);
            if let Err(error) = result {
                tracing::error!(%error, "the agent stopped");
                // It will not come back by itself (a refused token): the
                // wizard shows again, with why.
                ended.cancel();
                let mut running = node.running.lock().expect("running poisoned");
                if running.as_ref().is_some_and(|r| r.stop.is_cancelled()) {
                    *running = None;
                }
                drop(running);
                node.fail(error.to_string());
            }
        });
        let events = agent.subscribe();
        let node = Arc::clone(self);
        let events_stop = stop.clone();
        self.tracker
            .spawn(async move { node.follow_events(events, events_stop).await });
        *self.running.lock().expect("running poisoned") = Some(Running {
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
    async fn stop_agent(&self) {
        let running = self.running.lock().expect("running poisoned").take();
        if let Some(running) = running {
            running.stop.cancel();
            // Its jobs are in the shared tracker; wait for the agent to let go
            // of the host dir's socket, at most a while.
            let socket = running.agent.host().socket();
            for _ in 0..100 {
                if tokio::net::UnixStream::connect(&socket).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // The embedded hub stops after the agent shipped its last logs;
            // a new one must not start (and write its address) before the
            // old one has removed its own.
            if let Some(stopped) = running.hub_stopped {
                let _ = tokio::time::timeout(Duration::from_secs(30), stopped.cancelled()).await;
            }
        }
    }

    fn fail(&self, message: String) {
        *self.failure.lock().expect("failure poisoned") = Some(message);
        self.refresh();
    }

    /// Why the agent cannot run, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("failure poisoned").clone()
    }

    async fn follow_events(
        self: Arc<Node>,
        mut events: tokio::sync::broadcast::Receiver<AgentEvent>,
        stop: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(AgentEvent::TaskFinished {
                    id,
                    name,
                    state,
                    reason,
                    exit_code,
                }) => {
                    let mut view = self
                        .seen
                        .lock()
                        .expect("seen poisoned")
                        .remove(&id)
                        .unwrap_or(TaskView {
                            id: id.clone(),
                            name: name.clone(),
                            state: state.into(),
                            image: None,
                            reason: None,
                            exit_code: None,
                            started_at_ms: None,
                            finished_at_ms: None,
                            pull: None,
                        });
                    view.state = state.into();
                    view.reason = reason;
                    view.exit_code = exit_code.and_then(|c| i32::try_from(c).ok());
                    view.finished_at_ms = Some(now_ms());
                    view.pull = None;
                    self.observe(&id, view.state, None);
                    {
                        let mut recent = self.recent.lock().expect("recent poisoned");
                        recent.retain(|t| t.id != id);
                        recent.push_front(view.clone());
                        recent.truncate(RECENT);
                        let seen = self.seen.lock().expect("seen poisoned");
                        self.details
                            .lock()
                            .expect("details poisoned")
                            .retain(|id, _| {
                                seen.contains_key(id) || recent.iter().any(|t| &t.id == id)
                            });
                    }
                    let _ = self.ended.send(view);
                    self.refresh();
                }
                Ok(AgentEvent::TaskStarted { .. }) => self.refresh(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => self.refresh(),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Hears about each task that ends (for notifications).
    pub fn ended(&self) -> tokio::sync::broadcast::Receiver<TaskView> {
        self.ended.subscribe()
    }

    /// Follows the status; the receiver sees the current one first.
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// The status now.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Samples the agent's state and the machine (CPU, memory, disk, GPUs) every second, and
    /// sends the status when it changed.
    fn spawn_samplers(self: &Arc<Node>) {
        let node = Arc::clone(self);
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => node.refresh(),
                }
            }
        });
        let node = Arc::clone(self);
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut measured = PathBuf::new();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => {}
                }
                // The storage folder can change in Settings: its disk is measured.
                let host_dir = node.host_dir();
                let existing = node.monitor.lock().expect("monitor poisoned").clone();
                let monitor = match existing {
                    Some(monitor) if measured == host_dir => monitor,
                    _ => {
                        let dir = host_dir.clone();
                        let Ok(monitor) =
                            tokio::task::spawn_blocking(move || Monitor::new(&dir)).await
                        else {
                            return;
                        };
                        let monitor = Arc::new(Mutex::new(monitor));
                        *node.monitor.lock().expect("monitor poisoned") =
                            Some(Arc::clone(&monitor));
                        measured = host_dir;
                        monitor
                    }
                };
                let sample = tokio::task::spawn_blocking(move || {
                    monitor.lock().expect("monitor poisoned").sample()
                })
                .await;
                if let Ok(sample) = sample {
                    node.record_sample(MetricsSample::new(&sample, now_ms()));
                }
            }
        });
    }

    /// Makes the status from the agent's and sends it if it changed.
    pub fn refresh(&self) {
        let status = self.compute();
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }

    fn compute(&self) -> Status {
        let running = self.running.lock().expect("running poisoned");
        let recent: Vec<TaskView> = self
            .recent
            .lock()
            .expect("recent poisoned")
            .iter()
            .cloned()
            .collect();
        let gpu_percent = *self.gpu_percent.lock().expect("gpu poisoned");
        let paused_until_ms = self
            .timed_pause
            .lock()
            .expect("pause poisoned")
            .as_ref()
            .map(|p| p.until_ms);
        let Some(running) = running.as_ref() else {
            let previous = self.status.borrow();
            return Status {
                connection: Connection::Setup,
                node: previous.node.clone(),
                server: None,
                paused: false,
                paused_until_ms: None,
                draining: false,
                tasks: Vec::new(),
                recent,
                docker_problem: None,
                gpu_percent,
                host_dir: previous.host_dir.clone(),
            };
        };
        let agent = running.agent.status();
        if agent.connected {
            running.ever_connected.store(true, Ordering::SeqCst);
        }
        let connection = match (
            running.local,
            agent.connected,
            running.ever_connected.load(Ordering::SeqCst),
        ) {
            (true, _, _) => Connection::Local,
            (false, true, _) => Connection::Connected,
            (false, false, true) => Connection::Offline,
            (false, false, false) if self.failure().is_some() => Connection::Offline,
            (false, false, false) => Connection::Connecting,
        };
        let now = now_ms();
        let tasks: Vec<TaskView> = {
            let mut seen = self.seen.lock().expect("seen poisoned");
            agent
                .tasks
                .iter()
                .map(|held| {
                    let started = seen
                        .get(&held.id)
                        .and_then(|t| t.started_at_ms)
                        .or(Some(now));
                    let view = TaskView::held(held, started);
                    self.observe(&held.id, view.state, Some(&running.agent));
                    seen.insert(held.id.clone(), view.clone());
                    view
                })
                .collect()
        };
        Status {
            connection,
            node: agent.name,
            server: if running.local { None } else { agent.server },
            paused: agent.mode.paused,
            paused_until_ms,
            draining: agent.mode.draining,
            tasks,
            recent,
            docker_problem: agent.docker_problem,
            gpu_percent,
            host_dir: agent.host_dir,
        }
    }

    fn agent(&self) -> Result<Agent, UiError> {
        self.running
            .lock()
            .expect("running poisoned")
            .as_ref()
            .map(|r| r.agent.clone())
            .ok_or_else(|| UiError::new("not_running", "Gantry is not set up yet"))
    }

    /// Tracks a job of the app's, stopped by [`Node::stopping`] and awaited at Quit.
    pub fn spawn<F>(&self, job: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(job);
    }

    /// Cancelled when the app quits.
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// The app's job tracker.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Pauses one task.
    pub fn pause_task(&self, id: &str) -> Result<(), UiError> {
        held(self.agent()?.pause_task(id), id)?;
        self.refresh();
        Ok(())
    }

    /// Resumes one task.
    pub fn resume_task(&self, id: &str) -> Result<(), UiError> {
        held(self.agent()?.resume_task(id), id)?;
        self.refresh();
        Ok(())
    }

    /// Cancels one task.
    pub fn cancel_task(&self, id: &str) -> Result<(), UiError> {
        held(self.agent()?.cancel_task(id), id)?;
        self.refresh();
        Ok(())
    }

    /// Freezes every task until resumed.
    pub fn pause_all(&self) -> Result<(), UiError> {
        let agent = self.agent()?;
        self.end_timed_pause();
        agent.pause_all();
        self.refresh();
        Ok(())
    }

    /// Thaws every task.
    pub fn resume_all(&self) -> Result<(), UiError> {
        let agent = self.agent()?;
        self.end_timed_pause();
        agent.resume_all();
        self.refresh();
        Ok(())
    }

    /// Freezes every task for `how_long`, then resumes by itself.
    pub fn pause_for(self: &Arc<Node>, how_long: Duration) -> Result<(), UiError> {
        let agent = self.agent()?;
        self.end_timed_pause();
        agent.pause_all();
        let cancel = self.stop.child_token();
        *self.timed_pause.lock().expect("pause poisoned") = Some(TimedPause {
            until_ms: now_ms() + how_long.as_millis() as i64,
            cancel: cancel.clone(),
        });
        let node = Arc::clone(self);
        self.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(how_long) => {
                    tracing::info!("the timed pause ended; resuming");
                    let _ = node.resume_all();
                }
            }
        });
        self.refresh();
        Ok(())
    }

    fn end_timed_pause(&self) {
        if let Some(pause) = self.timed_pause.lock().expect("pause poisoned").take() {
            pause.cancel.cancel();
        }
    }

    /// Drains (`true`: running tasks finish, no new ones) or ends draining.
    pub fn drain(&self, draining: bool) -> Result<(), UiError> {
        self.agent()?.drain(draining);
        self.refresh();
        Ok(())
    }

    /// The storage folder.
    pub fn host_dir(&self) -> PathBuf {
        PathBuf::from(self.status.borrow().host_dir.clone())
    }

    /// Sends the task's log through `send` in batches, from (near) its start,
    /// then as it grows, until the task ended and its log was read, `send`
    /// fails, or [`Node::unfollow_log`]. Returns the subscription's number.
    pub fn follow_log(
        &self,
        id: String,
        send: impl Fn(LogBatch) -> bool + Send + 'static,
    ) -> Result<u32, UiError> {
        let agent = self.agent()?;
        let number = self.next_follow.fetch_add(1, Ordering::SeqCst);
        let cancel = self.stop.child_token();
        self.follows
            .lock()
            .expect("follows poisoned")
            .insert(number, cancel.clone());
        self.tracker.spawn(async move {
            crate::logs::follow(agent, id, send, cancel).await;
        });
        Ok(number)
    }

    /// Ends a log subscription.
    pub fn unfollow_log(&self, number: u32) {
        if let Some(cancel) = self
            .follows
            .lock()
            .expect("follows poisoned")
            .remove(&number)
        {
            cancel.cancel();
        }
    }

    /// Whether tasks are held now (Quit asks what to do with them).
    pub fn holds_tasks(&self) -> bool {
        !self.status().tasks.is_empty()
    }

    /// Stops everything: the agent (cancelling its tasks with `stop_tasks`,
    /// else leaving their containers for the next start), the local hub,
    /// every job; waits for them, at most `patience`.
    pub async fn shutdown(&self, stop_tasks: bool, patience: Duration) {
        if let Some(running) = self.running.lock().expect("running poisoned").as_ref() {
            running.agent.set_stop_tasks_on_exit(stop_tasks);
        }
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(patience, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some jobs did not stop in time");
        }
    }
}

fn held(found: bool, id: &str) -> Result<(), UiError> {
    if found {
        Ok(())
    } else {
        Err(UiError::new(
            "not_held",
            format!("task {id} is not running on this computer any more"),
        ))
    }
}

/// The agent's configuration: environment and agent.toml first, then the
/// app's settings where those leave the default.
fn resolve_config(settings: &Settings) -> anyhow::Result<AgentConfig> {
    Ok(layered_config(settings)?.0)
}

/// The configuration, and the names of the Settings fields that the
/// environment or agent.toml fix (the Settings screen shows them read-only).
fn layered_config(settings: &Settings) -> anyhow::Result<(AgentConfig, Vec<String>)> {
    layer_config(
        settings,
        &|name| std::env::var(name).ok(),
        default_config_file(),
    )
}

/// [`layered_config`] with the environment and config file given.
fn layer_config(
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<(AgentConfig, Vec<String>)> {
    let mut config = AgentConfig::resolve(Flags::default(), env, file)?;
    // What the agent would use with no environment and no file: a field that
    // differs from it was set by one of them.
    let plain = AgentConfig::resolve(Flags::default(), &|_| None, None)?;
    let mut locked = Vec::new();
    macro_rules! layer {
        ($field:ident, $setting:expr) => {
            if config.$field != plain.$field {
                locked.push(stringify!($field).to_owned());
            } else if let Some(value) = $setting {
                config.$field = value;
            }
        };
    }
    layer!(host_dir, settings.host_dir.clone());
    layer!(name, settings.name.clone());
    layer!(labels, settings.labels.clone());
    layer!(max_tasks, settings.max_tasks);
    layer!(with_local_storage, settings.with_local_storage);
    layer!(
        delete_task_dir_on_finish,
        settings.delete_task_dir_on_finish
    );
    layer!(
        delete_task_dir_on_failure,
        settings.delete_task_dir_on_failure
    );
    Ok((config, locked))
}

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

/// Checks that `server` is a Gantry hub that knows `token` as a node token.
async fn check_hub(server: &str, token: &Token) -> Result<(), UiError> {
    let client = HubClient::new(server, token.clone()).map_err(client_error)?;
    client.check_node_token().await.map_err(client_error)
}

/// The wizard's words for a failed check of the hub and token.
fn client_error(error: ClientError) -> UiError {
    let message = error.to_string();
    let code = match &error {
        ClientError::BadAddress(_) => "bad_address",
        ClientError::Unreachable { .. } | ClientError::Timeout { .. } => "unreachable",
        ClientError::Tls { .. } => "tls",
        ClientError::NotAHub { .. } | ClientError::Protocol { .. } => "wrong_address",
        ClientError::Api { status: 401, .. } => {
            return UiError::new(
                "wrong_token",
                "The hub does not know this token. Check that you pasted the whole node token (it starts with gantry_node_), \
                 or ask the hub's admin for a new one (gantry hub node add NAME).",
            );
        }
        ClientError::Api { status: 403, .. } => {
            return UiError::new(
                "wrong_kind",
                "This is not a node token (an admin token, perhaps). Paste the node token made for this computer with gantry hub node add NAME.",
            );
        }
        ClientError::Api { status: 404, .. } => "wrong_address",
        _ => "hub_error",
    };
    UiError::new(code, message)
}

async fn gpu_check(host_dir: &std::path::Path) -> Check {
    let host_dir = host_dir.to_path_buf();
    let sample = tokio::task::spawn_blocking(move || Monitor::new(&host_dir).sample()).await;
    match sample {
        Ok(sample) if !sample.gpus.is_empty() => Check {
            ok: true,
            summary: sample
                .gpus
                .iter()
                .map(|g| g.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            guidance: None,
        },
        Ok(sample) => Check {
            ok: false,
            summary: "No NVIDIA GPU found".into(),
            guidance: Some(match sample.gpu_status {
                gantry_protocol::wire::GpuStatus::Error { message } => message,
                _ => "Tasks that need no GPU still run. For GPU tasks, install the NVIDIA driver and the NVIDIA Container Toolkit, then restart Gantry.".into(),
            }),
        },
        Err(error) => Check {
            ok: false,
            summary: "The GPU check failed".into(),
            guidance: Some(error.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real hub on a free port, with a node token and an admin token.
    async fn hub() -> (String, String, String, tempfile::TempDir, CancellationToken) {
        let dir = tempfile::tempdir().unwrap();
        let hub = gantry_hub::Hub::open(
            dir.path(),
            None,
            gantry_hub::HubConfig::default(),
            Arc::new(gantry_hub::SystemClock),
        )
        .await
        .unwrap();
        let node = hub.db().add_node("desk", &[], hub.now()).await.unwrap();
        let admin = hub.db().create_admin_token("me", hub.now()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(gantry_hub::serve(
            listener,
            hub,
            stop.clone().cancelled_owned(),
        ));
        (url, node, admin, dir, stop)
    }

    async fn code(server: &str, token: &str) -> String {
        match check_hub(server, &Token::new(token)).await {
            Ok(()) => "ok".into(),
            Err(error) => {
                assert!(!error.message.is_empty());
                error.code
            }
        }
    }

    #[test]
    fn settings_fill_what_the_environment_leaves() {
        let settings = Settings {
            name: Some("desk".into()),
            max_tasks: Some(3),
            with_local_storage: Some(true),
            ..Settings::default()
        };
        let env = |name: &str| (name == "GANTRY_MAX_TASKS").then(|| "5".to_owned());
        let (config, locked) = layer_config(&settings, &env, None).unwrap();
        assert_eq!(config.name, "desk");
        assert!(config.with_local_storage);
        assert_eq!(config.max_tasks, 5, "the environment wins");
        assert_eq!(locked, ["max_tasks"]);
        let (config, locked) = layer_config(&Settings::default(), &|_| None, None).unwrap();
        assert!(locked.is_empty());
        assert_eq!(config.max_tasks, 1);
    }

    #[tokio::test]
    async fn the_wizard_tells_each_failure_apart() {
        let (url, node, admin, _dir, stop) = hub().await;
        assert_eq!(code(&url, &node).await, "ok");
        assert_eq!(
            code(&format!("{url}/"), &node).await,
            "ok",
            "a trailing slash is fine"
        );
        assert_eq!(code(&url, "gantry_node_nonsense").await, "wrong_token");
        assert_eq!(code(&url, &admin).await, "wrong_kind");
        assert_eq!(code("hub.example.com", &node).await, "bad_address");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(
            code(&format!("http://127.0.0.1:{port}"), &node).await,
            "unreachable"
        );
        assert_eq!(
            code(&url.replace("http://", "https://"), &node).await,
            "tls"
        );
        assert_eq!(
            code(&format!("{url}/not/the/hub"), &node).await,
            "wrong_address"
        );
        // Something that answers HTTP but is not a hub.
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other_url = format!("http://{}", other.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = other.accept().await {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\n\r\nhello")
                    .await;
            }
        });
        assert_eq!(code(&other_url, &node).await, "wrong_address");
        stop.cancel();
    }
}

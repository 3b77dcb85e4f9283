//! This machine as a node of the hub. [`Agent`] registers with the hub, sends heartbeats, long-polls for work
//! within `max_tasks`, runs each task, and obeys requests from the hub and
//! from this machine (pause all, resume all, drain, per-task pause/resume/cancel).
//!
//! Every spawned job (heartbeat, poll, tasks) is tracked and awaited on
//! shutdown; one [`CancellationToken`] stops them. `polls.rs` holds the
//! conversations with the hub (register, heartbeats, the long-polls for
//! commands and for work), `status.rs` what the agent shows of itself, and
//! `context.rs` what every task shares and `gantry run`'s task without a hub,
//! `yielding.rs` what the node does when it steps aside for its person,
//! `metrics.rs` its metrics page (`--metrics-listen`).

mod context;
mod fetches;
mod gpu_use;
mod metrics;
mod polls;
mod status;
mod yielding;

pub use context::{context, run_local};
pub use status::{AgentEvent, AgentStatus, HeldView, Mode};
pub use yielding::AgentProbes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_protocol::admin::{NodeIdentity, NodeState};
use gantry_protocol::job::Executor;
use gantry_protocol::wire::{CommandKind, PullProgress, Task};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::AgentConfig;
use crate::docker::Engine;
use crate::host::HostDir;
use crate::monitor::Monitor;
use crate::record::{Records, Step};
use crate::spool::Tail;
use crate::task::{self, Outcome, TaskContext, TaskRun};
use gantry_client::{ClientError, HubClient};

/// Why the agent cannot start or go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A setting is missing or wrong; the message says which and how to fix it.
    #[error("{0}")]
    Config(String),
    /// The host dir cannot be used.
    #[error("cannot use the host dir {path}: {source}")]
    HostDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The token would go over plain http beyond this machine, and that was
    /// not allowed; the message says how to fix it.
    #[error("{0}")]
    InClear(String),
    /// The hub refused this agent for good (e.g. an unknown token).
    #[error("the hub refused this agent: {0}")]
    Refused(ClientError),
    /// The hub's admin removed this node or replaced its token: the hub's
    /// sentence says which and when. The agent stopped its tasks (the hub
    /// canceled them) and must not be restarted with the same token.
    #[error("{0}")]
    Revoked(String),
}

struct Held {
    view: HeldView,
    cancel: CancellationToken,
    detach: CancellationToken,
    /// A subprocess: stopped, not left running, when the agent stops.
    process: bool,
    /// It asks for GPUs: a GPU-only yield stops it.
    gpus: bool,
    /// Frozen now? Both `person_paused` and `yield_frozen` ask ([`Held::steer`]).
    paused: watch::Sender<bool>,
    /// The person (or the hub for them) paused it.
    person_paused: bool,
    /// Yielding froze it; thawed when the yield ends.
    yield_frozen: bool,
    /// Set with the reason when yielding releases it.
    release: watch::Sender<Option<String>>,
    /// The hub's log offset of its spool's byte 0 (the log of earlier runs).
    log_base: u64,
    state: watch::Receiver<TaskState>,
    pull: watch::Receiver<Option<PullProgress>>,
    /// Its spool's length as the spool announces it; closed once its output is complete.
    log_length: watch::Receiver<u64>,
}

/// The agent; cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: TaskContext,
    hub: HubClient,
    /// A std mutex: nothing awaits while holding it.
    held: Mutex<BTreeMap<String, Held>>,
    mode: watch::Sender<Mode>,
    /// Bumped when a task ends, so the poll loop looks for a free slot.
    slots: watch::Sender<u64>,
    connected: watch::Sender<bool>,
    monitor: Arc<Mutex<Monitor>>,
    events: broadcast::Sender<AgentEvent>,
    tracker: TaskTracker,
    /// Starts as `stop_tasks_on_exit`; the desktop app asks at Quit.
    stop_tasks_on_exit: std::sync::atomic::AtomicBool,
    /// The node's name and labels as the hub last said them (register, heartbeats).
    identity: watch::Sender<Option<NodeIdentity>>,
    /// The hub's sentence, once it refused this node's token for good
    /// (node removed, token replaced); the agent then stops.
    revoked: Mutex<Option<String>>,
    /// The verdict the node yields to now ([`Agent::yield_to`]).
    yielding: watch::Sender<Option<crate::yielding::Verdict>>,
    /// What its GPU tasks use of their GPUs (`gpu_use`).
    gpu_meter: crate::gpu_use::GpuMeter,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("name", &self.inner.ctx.config.name)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Prepares an agent: opens the host dir, connects to Docker (a missing
    /// engine is reported, not fatal: process tasks still run), and checks the
    /// hub's address and token are given.
    pub async fn new(config: AgentConfig, stop: CancellationToken) -> Result<Agent, AgentError> {
        let server = config.server.clone().ok_or_else(|| {
            AgentError::Config(
                "no hub address: pass --server or set GANTRY_SERVER (or SERVER_ADDRESS)".into(),
            )
        })?;
        let token = config.token.clone().ok_or_else(|| {
            AgentError::Config(
                "no node token: pass --token or set GANTRY_TOKEN (or ACCESS_TOKEN); the hub's admin makes one with \
                 gantry hub node add NAME"
                    .into(),
            )
        })?;
        if !config.allow_insecure_http && gantry_client::in_clear(&server) {
            return Err(AgentError::InClear(gantry_client::in_clear_refusal(
                &server,
            )));
        }
        let trust = gantry_client::Trust::with_ca_file(config.ca_file.clone());
        let hub = HubClient::with_trust(&server, token, &trust)
            .map_err(|e| AgentError::Config(e.to_string()))?;
        let stop_tasks_on_exit = config.stop_tasks_on_exit;
        // The agent's own branch of the caller's token: a refusal from the
        // hub stops the agent's loops without stopping the caller's other work.
        let ctx = context(config, Some(hub.clone()), stop.child_token()).await?;
        // One NVML for the heartbeat, the GPUs' owner and the yield rules.
        let monitor = ctx
            .gpus
            .monitor()
            .unwrap_or_else(|| Arc::new(Mutex::new(Monitor::new(ctx.host.root()))));
        Ok(Agent {
            inner: Arc::new(Inner {
                ctx,
                hub,
                held: Mutex::new(BTreeMap::new()),
                mode: watch::channel(Mode::default()).0,
                slots: watch::channel(0).0,
                connected: watch::channel(false).0,
                monitor,
                events: broadcast::channel(256).0,
                tracker: TaskTracker::new(),
                stop_tasks_on_exit: stop_tasks_on_exit.into(),
                identity: watch::channel(None).0,
                revoked: Mutex::new(None),
                yielding: watch::channel(None).0,
                gpu_meter: crate::gpu_use::GpuMeter::default(),
            }),
        })
    }

    /// The host dir.
    pub fn host(&self) -> &HostDir {
        &self.inner.ctx.host
    }

    /// The agent's client of its hub (its node token), for what the node
    /// may ask of its own (the desktop's "This week": `HubClient::own_usage`).
    pub fn hub(&self) -> &HubClient {
        &self.inner.hub
    }

    /// Follows what happens, for the UI and notifications.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.inner.events.subscribe()
    }

    /// Picks up the tasks it held when it last stopped, registers, then
    /// heartbeats and takes tasks until the stop token is cancelled. Running
    /// containers are then left running for the next start (or stopped, with
    /// `stop_tasks_on_exit`), and every task is awaited.
    pub async fn run(&self) -> Result<(), AgentError> {
        let stop = self.inner.ctx.stop.clone();
        let metrics = self.bind_metrics().await?;
        self.resume_recorded().await;
        let settings = match self.register().await {
            Ok(Some(settings)) => settings,
            Ok(None) => {
                self.leave().await;
                return self.revocation();
            }
            Err(error) => {
                self.leave().await;
                return Err(error);
            }
        };
        let tracker = TaskTracker::new();
        let heartbeat = self.clone();
        let interval = Duration::from_secs(settings.heartbeat_secs.max(1));
        tracker.spawn(async move { heartbeat.heartbeats(interval).await });
        let poller = self.clone();
        tracker.spawn(async move { poller.poll().await });
        let listener = self.clone();
        tracker.spawn(async move { listener.listen_for_commands().await });
        // A refusal met by any call, a task's event or log append included.
        let watcher = self.clone();
        tracker.spawn(async move { watcher.watch_refusal().await });
        let server = self.clone();
        tracker.spawn(async move { server.serve_fetches().await });
        let rules = self.clone();
        tracker.spawn(async move { rules.follow_rules().await });
        let meter = self.clone();
        tracker.spawn(async move { meter.meter_gpus().await });
        if let Some(listener) = metrics {
            let server = self.clone();
            tracker.spawn(async move { server.serve_metrics(listener).await });
        }
        stop.cancelled().await;
        self.leave().await;
        tracker.close();
        tracker.wait().await;
        self.revocation()
    }

    /// Whether `error` is the hub refusing this node's token for good (its
    /// node removed, its token replaced or revoked). If so, the first time,
    /// the agent keeps the hub's sentence, will stop its tasks (the hub
    /// canceled them) and stops.
    pub(super) fn is_revoked(&self, error: &ClientError) -> bool {
        if !error.is_refusal() {
            return false;
        }
        self.revoke(error.to_string());
        true
    }

    /// Stops the agent and its tasks for the hub's refusal, the first time.
    fn revoke(&self, sentence: String) {
        let mut revoked = self.inner.revoked.lock().expect("revoked poisoned");
        if revoked.is_none() {
            tracing::error!(%sentence, "the hub refused this node's token; stopping its tasks and the agent");
            *revoked = Some(sentence);
            self.set_stop_tasks_on_exit(true);
            self.inner.ctx.stop.cancel();
        }
    }

    /// Waits for the hub to refuse the token on any call (a task's event or
    /// log append included), and stops then.
    async fn watch_refusal(&self) {
        let mut refusal = self.inner.hub.refusal();
        let refused = tokio::select! {
            refused = refusal.wait_for(Option::is_some) => refused.ok().and_then(|body| body.clone()),
            _ = self.inner.ctx.stop.cancelled() => None,
        };
        if let Some(body) = refused {
            self.revoke(body.message);
        }
    }

    /// The end of [`Agent::run`]: the hub's refusal, if it refused this node.
    fn revocation(&self) -> Result<(), AgentError> {
        match self.inner.revoked.lock().expect("revoked poisoned").clone() {
            Some(sentence) => Err(AgentError::Revoked(sentence)),
            None => Ok(()),
        }
    }

    /// Takes no new task; leaves containers running for the next start, or
    /// stops them with `stop_tasks_on_exit`; waits for every task's job.
    async fn leave(&self) {
        let stop_tasks = self
            .inner
            .stop_tasks_on_exit
            .load(std::sync::atomic::Ordering::SeqCst);
        tracing::info!(
            "stopping: no new tasks; {}",
            if stop_tasks {
                "stopping the running ones (--stop-tasks-on-exit)"
            } else {
                "leaving running containers to be picked up at the next start"
            }
        );
        for held in self.inner.held.lock().expect("held map poisoned").values() {
            // A subprocess cannot be re-attached: it stops with the agent.
            if stop_tasks || held.process {
                held.cancel.cancel();
            } else {
                held.detach.cancel();
            }
        }
        self.inner.tracker.close();
        if tokio::time::timeout(
            self.inner.ctx.config.stop_grace * 3 + Duration::from_secs(10),
            self.inner.tracker.wait(),
        )
        .await
        .is_err()
        {
            tracing::warn!("some tasks did not stop in time");
        }
    }

    /// Starts again every task recorded in the host dir, and removes this
    /// node's containers that no recorded task owns.
    async fn resume_recorded(&self) {
        let records = Records::new(self.inner.ctx.host.clone()).load_all();
        if let Ok(engine) = &self.inner.ctx.engine {
            let held = records.iter().map(|r| r.task.id.clone()).collect();
            engine.sweep(&held).await;
        }
        for record in records {
            tracing::info!(task = %record.task.id, step = ?record.step, "picking up a task held before the agent stopped");
            self.start_task(record.task, Some(record.step));
        }
    }

    /// Runs a task: a new one, or one held before a restart at its recorded step.
    fn start_task(&self, task: Task, resumed: Option<Step>) {
        let id = task.id.clone();
        let name = task.name.clone();
        // Not children of the stop token: stopping the agent leaves tasks running.
        let cancel = CancellationToken::new();
        let detach = CancellationToken::new();
        let (paused_tx, paused_rx) = watch::channel(false);
        // Released before a restart: the release goes on.
        let (release_tx, release_rx) = watch::channel(match &resumed {
            Some(Step::Releasing { reason, .. }) => Some(reason.clone()),
            _ => None,
        });
        let gpus = yielding::asks_for_gpus(&task);
        let log_base = task.log_size;
        let initial = if resumed.is_some() {
            TaskState::Running
        } else {
            TaskState::Assigned
        };
        let (state_tx, state_rx) = watch::channel(initial);
        let (pull_tx, pull_rx) = watch::channel(None);
        let (log_length_tx, log_length_rx) = watch::channel(0);
        let view = HeldView {
            id: id.clone(),
            name: name.clone(),
            state: initial,
            image: task.spec.image.clone(),
            pull: None,
        };
        self.inner.held.lock().expect("held map poisoned").insert(
            id.clone(),
            Held {
                view,
                cancel: cancel.clone(),
                detach: detach.clone(),
                process: task.spec.executor == Executor::Process,
                gpus,
                paused: paused_tx,
                person_paused: false,
                yield_frozen: false,
                release: release_tx,
                log_base,
                state: state_rx,
                pull: pull_rx,
                log_length: log_length_rx,
            },
        );
        if resumed.is_none() {
            self.inner.ctx.metrics.task_started();
            tracing::info!(task = %id, name = %name, "task taken");
            let _ = self.inner.events.send(AgentEvent::TaskStarted {
                id: id.clone(),
                name: name.clone(),
            });
        }
        // Held before yielding knew of it: a verdict in force applies now.
        if let Some(verdict) = self.yielding() {
            self.apply_to(&id, &verdict);
        }
        let agent = self.clone();
        self.inner.tracker.spawn(async move {
            // A GPU task waits while the node yields GPU work (it was offered before the hub knew).
            if resumed.is_none() && gpus {
                agent.gpu_turn(&cancel).await;
            }
            let run = TaskRun {
                task,
                cancel,
                detach,
                paused: paused_rx,
                release: release_rx,
                state: state_tx,
                pull: pull_tx,
                log_length: log_length_tx,
                echo: false,
            };
            let ended = match resumed {
                None => task::run(&agent.inner.ctx, run).await,
                Some(step) => task::resume(&agent.inner.ctx, run, step).await,
            };
            agent.inner.held.lock().expect("held map poisoned").remove(&id);
            agent.inner.slots.send_modify(|n| *n += 1);
            if let Some(outcome) = &ended {
                agent.inner.ctx.metrics.task_finished(outcome.state);
            }
            match ended {
                Some(Outcome { state: TaskState::Queued, reason, .. }) => {
                    tracing::info!(task = %id, reason = reason.as_deref().unwrap_or(""), "task released back to the hub's queue");
                }
                Some(Outcome { state, reason, exit_code }) => {
                    tracing::info!(task = %id, %state, reason = reason.as_deref().unwrap_or(""), "task ended");
                    let _ = agent.inner.events.send(AgentEvent::TaskFinished { id, name, state, reason, exit_code });
                }
                None => tracing::info!(task = %id, "task left to the next start, which picks it up where it is"),
            }
        });
    }

    /// Records whether the hub answers; when it comes back, shippers waiting
    /// out a backoff try again at once.
    fn set_connected(&self, connected: bool) {
        let was = self.inner.connected.send_replace(connected);
        if connected && !was {
            self.inner.ctx.hub_back.notify_waiters();
        }
    }

    /// The agent's state now.
    pub fn status(&self) -> AgentStatus {
        let held = self.inner.held.lock().expect("held map poisoned");
        let config = &self.inner.ctx.config;
        let identity = self.inner.identity.borrow().clone();
        let connected = *self.inner.connected.borrow();
        let mode = *self.inner.mode.borrow();
        let yielding = self.yielding();
        AgentStatus {
            name: config.name.clone(),
            node: identity.as_ref().map(|node| node.name.clone()),
            labels: identity.map_or_else(|| config.labels.clone(), |node| node.labels),
            server: config.server.clone(),
            connected,
            mode,
            max_tasks: config.max_tasks,
            tasks: held
                .values()
                .map(|h| HeldView {
                    state: *h.state.borrow(),
                    pull: *h.pull.borrow(),
                    ..h.view.clone()
                })
                .collect(),
            docker_problem: self.inner.ctx.engine.as_ref().err().cloned(),
            host_dir: self.inner.ctx.host.root().display().to_string(),
            // The person's hand (paused, draining) wins over yielding;
            // yielding wins over online.
            state: match (mode.node_state(connected), &yielding) {
                (NodeState::Online, Some(_)) => NodeState::Yielding,
                (state, _) => state,
            },
            yield_reason: yielding.as_ref().map(|v| v.reason.clone()),
            yielding: yielding.as_ref().map(crate::yielding::Verdict::report),
        }
    }

    /// Whether running tasks are canceled (`true`) or left running for the
    /// next start when the agent stops; overrides `stop_tasks_on_exit`.
    pub fn set_stop_tasks_on_exit(&self, stop: bool) {
        self.inner
            .stop_tasks_on_exit
            .store(stop, std::sync::atomic::Ordering::SeqCst);
    }

    /// Freezes every task and takes no new ones.
    pub fn pause_all(&self) {
        self.inner.mode.send_modify(|mode| mode.paused = true);
        for held in self
            .inner
            .held
            .lock()
            .expect("held map poisoned")
            .values_mut()
        {
            held.person_paused = true;
            held.steer();
        }
    }

    /// Thaws every task and takes new ones again (unless draining).
    pub fn resume_all(&self) {
        self.inner.mode.send_modify(|mode| mode.paused = false);
        for held in self
            .inner
            .held
            .lock()
            .expect("held map poisoned")
            .values_mut()
        {
            held.person_paused = false;
            held.steer();
        }
    }

    /// With `true`, lets running tasks finish and takes no new ones; `false` ends draining.
    pub fn drain(&self, draining: bool) {
        self.inner.mode.send_modify(|mode| mode.draining = draining);
    }

    /// Pauses one task; `false` if the agent does not hold it.
    pub fn pause_task(&self, id: &str) -> bool {
        self.obey(id, CommandKind::Pause)
    }

    /// Resumes one task; `false` if the agent does not hold it.
    pub fn resume_task(&self, id: &str) -> bool {
        self.obey(id, CommandKind::Resume)
    }

    /// Cancels one task; `false` if the agent does not hold it.
    pub fn cancel_task(&self, id: &str) -> bool {
        self.obey(id, CommandKind::Cancel)
    }

    /// The spool file of a task the agent holds or held, if any.
    pub fn log_path(&self, id: &str) -> Option<std::path::PathBuf> {
        crate::spool::newest(&self.inner.ctx.host.task_dir(id))
    }

    /// Reads a task's log (its spool) from `from` as it grows. For a task the
    /// agent holds, the [`Tail`] waits on the spool's own announcement of
    /// each append, and ends once the task's output is complete; a task whose
    /// spool is not open yet is waited for. For a task it no longer holds,
    /// the tail reads the file to its end. `None` if the agent has no log
    /// for the task.
    pub async fn tail(&self, id: &str, from: u64) -> std::io::Result<Option<Tail>> {
        let length = self
            .inner
            .held
            .lock()
            .expect("held map poisoned")
            .get(id)
            .map(|held| held.log_length.clone());
        if let Some(mut opened) = length.clone()
            && self.log_path(id).is_none()
        {
            // The spool announces itself when it opens; an error: the task ended without one.
            let _ = opened.changed().await;
        }
        let Some(path) = self.log_path(id) else {
            return Ok(None);
        };
        Tail::open(&path, from, length).await.map(Some)
    }

    /// The Docker engine, or why there is none.
    pub fn engine(&self) -> Result<Engine, String> {
        self.inner.ctx.engine.clone()
    }

    /// Whether the agent holds a task now.
    pub fn holds(&self, id: &str) -> bool {
        self.inner
            .held
            .lock()
            .expect("held map poisoned")
            .contains_key(id)
    }
}

fn set_paused(paused: &watch::Sender<bool>, value: bool) {
    paused.send_if_modified(|current| {
        let changed = *current != value;
        *current = value;
        changed
    });
}

//! What the node does when it yields to its person ([`Agent::yield_to`], the
//! one door: the rule engine calls it, tests may too).
//!
//! A verdict stops either all work or only GPU work (`gpu_only`). While it
//! holds, the node takes no new task it stops (no `next` poll at all, or GPU
//! tasks wait before they start), and each held task it stops is frozen or
//! released, by the verdict's action. Freezing here is kept apart from the
//! person's own pause (`Held::person_paused`): when the verdict clears, only
//! what yielding froze is thawed. The heartbeat carries the verdict, so the
//! hub shows the node as yielding and offers it only what it would take.
//!
//! The rules themselves live in `crate::yielding`; [`AgentProbes`] is what the
//! rule engine reads of this agent (the GPUs, and the host pids of Gantry's
//! own tasks, so a task's own CUDA process is not a foreign one).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Agent, AgentEvent, Held};
use crate::docker::Engine;
use crate::monitor::{GpuDevice, Monitor};
use crate::yielding::{Verdict, YieldAction};

impl Agent {
    /// Steps aside (`Some`) or comes back (`None`). Tasks the verdict stops
    /// are frozen or released by its action; `None` thaws what yielding
    /// froze, never what the person paused.
    pub fn yield_to(&self, verdict: Option<Verdict>) {
        let before = self.inner.yielding.send_replace(verdict.clone());
        if before == verdict {
            return;
        }
        match &verdict {
            Some(v) => {
                tracing::info!(reason = %v.reason, gpu_only = v.gpu_only, action = ?v.action, "yielding to this computer's person");
                let _ = self.inner.events.send(AgentEvent::Yielding {
                    reason: v.reason.clone(),
                });
            }
            None => {
                tracing::info!("no rule holds any more; work comes back");
                let _ = self.inner.events.send(AgentEvent::Resumed);
            }
        }
        let mut held = self.inner.held.lock().expect("held map poisoned");
        for task in held.values_mut() {
            task.yield_to(verdict.as_ref());
        }
    }

    /// Applies the verdict in force to a task just taken.
    pub(super) fn apply_to(&self, id: &str, verdict: &Verdict) {
        if let Some(task) = self
            .inner
            .held
            .lock()
            .expect("held map poisoned")
            .get_mut(id)
        {
            task.yield_to(Some(verdict));
        }
    }

    /// The verdict the node yields to now, if any.
    pub fn yielding(&self) -> Option<Verdict> {
        self.inner.yielding.borrow().clone()
    }

    /// Whether the node yields all its work (then it takes no task at all).
    pub(super) fn yields_all(&self) -> bool {
        self.inner
            .yielding
            .borrow()
            .as_ref()
            .is_some_and(|v| !v.gpu_only)
    }

    /// Waits, before a task with GPUs starts, while the node yields GPU
    /// work; also ends when the task is canceled or the agent stops (its
    /// walk then handles that).
    pub(super) async fn gpu_turn(&self, cancel: &CancellationToken) {
        let mut yielding = self.inner.yielding.subscribe();
        let mut told = false;
        loop {
            if yielding.borrow_and_update().is_none() {
                return;
            }
            if !told {
                tracing::info!("a GPU task waits: the node yields GPU work to its person");
                told = true;
            }
            tokio::select! {
                changed = yielding.changed() => if changed.is_err() { return },
                _ = cancel.cancelled() => return,
                _ = self.inner.ctx.stop.cancelled() => return,
            }
        }
    }

    /// Starts the rule engine when any rule is set: its verdicts reach
    /// [`Agent::yield_to`]. Ends with the agent's stop token.
    pub(super) async fn follow_rules(&self) {
        let mut settings = self.inner.ctx.config.yielding.clone();
        // Other programs on the GPU can only be seen where NVML is: elsewhere
        // that rule (on by default) costs a read a second for nothing.
        settings.gpu_programs &= self.inner.ctx.gpus.has_nvml();
        if !any_rule(&settings) {
            return;
        }
        let stop = self.inner.ctx.stop.clone();
        let probes = AgentProbes::new(self);
        let (tx, mut rx) = watch::channel(None);
        let tracker = tokio_util::task::TaskTracker::new();
        if settings.gpu_programs {
            // Only that rule asks which GPU processes are Gantry's own.
            tracker.spawn(probes.clone().refresh_own_pids(stop.clone()));
        }
        tracker.spawn(rule_engine(settings, probes, tx, stop.clone()));
        loop {
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let verdict = rx.borrow_and_update().clone();
                    self.yield_to(verdict);
                }
                _ = stop.cancelled() => break,
            }
        }
        tracker.close();
        tracker.wait().await;
    }
}

/// Whether a verdict stops a task (with GPUs or not).
fn stops(verdict: &Verdict, gpus: bool) -> bool {
    !verdict.gpu_only || gpus
}

/// Whether any rule is on (the GPU-programs rule only where NVML is).
fn any_rule(settings: &crate::yielding::YieldSettings) -> bool {
    !settings.quiet_hours.is_empty()
        || settings.when_active.is_some()
        || settings.on_battery
        || !settings.exclusive_apps.is_empty()
        || settings.above_temp_c.is_some()
        || settings.gpu_programs
}

/// Runs the rule engine until `stop`: the one place that names it.
async fn rule_engine(
    settings: crate::yielding::YieldSettings,
    probes: AgentProbes,
    tx: watch::Sender<Option<Verdict>>,
    stop: CancellationToken,
) {
    crate::yielding::watch(settings, probes, tx, stop).await;
}

impl crate::yielding::Probes for AgentProbes {
    fn devices(&self) -> Vec<GpuDevice> {
        AgentProbes::devices(self)
    }
    fn own_pids(&self) -> HashSet<u32> {
        AgentProbes::own_pids(self)
    }
    fn fresh_own_pids(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = HashSet<u32>> + Send + '_>> {
        Box::pin(async move {
            let now = self.collect_own_pids().await;
            *self.own.lock().expect("own pids poisoned") = now.clone();
            now
        })
    }
}

impl Held {
    /// What a verdict (or its end) does to this task: frozen or released
    /// when it stops the task; thawed at its end when yielding froze it.
    fn yield_to(&mut self, verdict: Option<&Verdict>) {
        match verdict.filter(|v| stops(v, self.gpus)) {
            Some(v) if v.action == YieldAction::Release => {
                let reason = format!("yielding: {}", v.reason);
                self.release.send_if_modified(|now| {
                    let fresh = now.is_none();
                    if fresh {
                        *now = Some(reason.clone());
                    }
                    fresh
                });
            }
            Some(_) => {
                self.yield_frozen = true;
                self.steer();
            }
            None if self.yield_frozen => {
                self.yield_frozen = false;
                self.steer();
            }
            None => {}
        }
    }

    /// Freezes or thaws the task as the person's pause and yielding ask together.
    pub(super) fn steer(&self) {
        super::set_paused(&self.paused, self.person_paused || self.yield_frozen);
    }
}

/// What the rule engine reads of this agent: the GPUs (NVML, through the
/// agent's [`Monitor`]) and the host pids of Gantry's own tasks.
#[derive(Clone)]
pub struct AgentProbes {
    monitor: Arc<Mutex<Monitor>>,
    engine: Option<Engine>,
    agent: Agent,
    /// Refreshed about once a second; read without waiting.
    own: Arc<Mutex<HashSet<u32>>>,
}

impl std::fmt::Debug for AgentProbes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentProbes").finish_non_exhaustive()
    }
}

impl AgentProbes {
    fn new(agent: &Agent) -> AgentProbes {
        AgentProbes {
            monitor: agent.inner.monitor.clone(),
            engine: agent.inner.ctx.engine.clone().ok(),
            agent: agent.clone(),
            own: Arc::default(),
        }
    }

    /// Each GPU now; blocking (NVML), for the blocking pool.
    pub fn devices(&self) -> Vec<GpuDevice> {
        self.monitor.lock().expect("monitor poisoned").devices()
    }

    /// The host pids of Gantry's tasks: their containers' processes and
    /// the process executor's process groups.
    pub fn own_pids(&self) -> HashSet<u32> {
        self.own.lock().expect("own pids poisoned").clone()
    }

    /// Keeps [`AgentProbes::own_pids`] current until `stop`.
    async fn refresh_own_pids(self, stop: CancellationToken) {
        loop {
            let now = self.collect_own_pids().await;
            *self.own.lock().expect("own pids poisoned") = now;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    async fn collect_own_pids(&self) -> HashSet<u32> {
        let (containers, processes) = {
            let held = self.agent.inner.held.lock().expect("held map poisoned");
            let mut containers = Vec::new();
            let mut processes = false;
            for (id, task) in held.iter() {
                match task.process {
                    true => processes = true,
                    false => containers.push(id.clone()),
                }
            }
            (containers, processes)
        };
        let mut pids = HashSet::new();
        if let Some(engine) = &self.engine
            && !containers.is_empty()
            && let Ok(running) = engine.containers(None).await
        {
            for container in running {
                if container
                    .task_id
                    .as_ref()
                    .is_some_and(|task| containers.contains(task))
                {
                    pids.extend(engine.host_pids(&container.id).await);
                }
            }
        }
        if processes {
            let tasks = self.agent.inner.ctx.host.root().join("tasks");
            let found = tokio::task::spawn_blocking(move || processes_under(&tasks))
                .await
                .unwrap_or_default();
            pids.extend(found);
        }
        pids
    }
}

/// The processes of this machine whose working folder is under `folder`:
/// a process task's group runs in its task folder.
fn processes_under(folder: &std::path::Path) -> HashSet<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            cwd.starts_with(folder).then_some(pid)
        })
        .collect()
}

/// Whether a task asks for GPUs (GPU-only yields stop it).
pub(super) fn asks_for_gpus(task: &gantry_protocol::wire::Task) -> bool {
    task.spec.resources.gpus.is_some()
}

#[cfg(test)]
mod tests {
    use gantry_protocol::TaskState;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::node::HeldView;

    fn held(gpus: bool) -> (Held, watch::Receiver<bool>, watch::Receiver<Option<String>>) {
        let (paused, paused_rx) = watch::channel(false);
        let (release, release_rx) = watch::channel(None);
        let held = Held {
            view: HeldView {
                id: "t".into(),
                name: "t".into(),
                state: TaskState::Running,
                image: None,
                pull: None,
            },
            cancel: CancellationToken::new(),
            detach: CancellationToken::new(),
            process: false,
            gpus,
            paused,
            person_paused: false,
            yield_frozen: false,
            release,
            log_base: 0,
            state: watch::channel(TaskState::Running).1,
            pull: watch::channel(None).1,
            log_length: watch::channel(0).1,
        };
        (held, paused_rx, release_rx)
    }

    fn verdict(gpu_only: bool, action: YieldAction) -> Verdict {
        Verdict {
            reason: "you play".into(),
            gpu_only,
            action,
            since: 0,
        }
    }

    #[test]
    fn the_end_of_a_freeze_leaves_the_persons_pause() {
        let (mut task, paused, _) = held(false);
        task.person_paused = true;
        task.steer();
        task.yield_to(Some(&verdict(false, YieldAction::Freeze)));
        assert!(*paused.borrow());
        task.yield_to(None);
        assert!(*paused.borrow(), "the person paused it: it stays paused");
        task.person_paused = false;
        task.steer();
        assert!(!*paused.borrow());
    }

    #[test]
    fn a_freeze_thaws_when_it_ends_or_turns_gpu_only() {
        let (mut task, paused, _) = held(false);
        task.yield_to(Some(&verdict(false, YieldAction::Freeze)));
        assert!(*paused.borrow());
        // Now only GPU work yields: a CPU task runs again.
        task.yield_to(Some(&verdict(true, YieldAction::Freeze)));
        assert!(!*paused.borrow());
        let (mut gpu, gpu_paused, _) = held(true);
        gpu.yield_to(Some(&verdict(true, YieldAction::Freeze)));
        assert!(*gpu_paused.borrow());
        gpu.yield_to(None);
        assert!(!*gpu_paused.borrow());
    }

    #[test]
    fn a_release_says_why_once() {
        let (mut task, paused, release) = held(true);
        task.yield_to(Some(&verdict(true, YieldAction::Release)));
        assert_eq!(release.borrow().as_deref(), Some("yielding: you play"));
        assert!(!*paused.borrow(), "a released task is stopped, not frozen");
        let mut other = verdict(false, YieldAction::Release);
        other.reason = "on battery".into();
        task.yield_to(Some(&other));
        assert_eq!(release.borrow().as_deref(), Some("yielding: you play"));
    }

    #[test]
    fn a_process_task_is_found_by_its_working_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        let found = processes_under(dir.path());
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&child.id()), "{found:?}");
        assert!(!found.contains(&std::process::id()));
    }
}

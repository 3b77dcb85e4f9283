//! The agent's conversations with the hub: registration (retried while the
//! hub is away, with the tasks the agent holds), heartbeats with the
//! machine's sample, and the two long-polls, one for requests about held
//! tasks (so a cancel or pause arrives at once) and one for work within
//! `max_tasks`, abandoned when the agent stops taking tasks.
//!
//! Heartbeat answers carry the node's name and labels as the hub's admin set
//! them; the agent shows them at once. Any of these calls answered with a
//! refusal for good (`node_removed`, `token_replaced`, `token_revoked`) stops
//! the agent and its tasks ([`Agent::is_revoked`]).

use std::time::Duration;

use gantry_protocol::admin::NodeIdentity;
use gantry_protocol::wire::{CommandKind, Heartbeat, HeldTask, RegisterRequest};
use tokio::sync::watch;

use super::{Agent, AgentError, Mode};
use crate::backoff::Backoff;
use gantry_client::Next;

impl Agent {
    /// Registers with the hub, retrying while it is unreachable. `None` if the
    /// agent was stopped before the hub answered.
    pub(super) async fn register(
        &self,
    ) -> Result<Option<gantry_protocol::wire::NodeSettings>, AgentError> {
        let config = &self.inner.ctx.config;
        let mut backoff = Backoff::default();
        let mut told = false;
        loop {
            let request = RegisterRequest {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                labels: config.labels.clone(),
                system: Some(self.sample().await),
                inventory: self.held_tasks(),
                only_labeled: config.only_labeled,
                capacity: Some(self.inner.ctx.gpus.capacity().await),
                image_policy: config.image_policy_to_send(),
            };
            match self.inner.hub.register(&request).await {
                Ok(registered) => {
                    self.set_connected(true);
                    self.set_identity(NodeIdentity {
                        name: registered.node_name.clone(),
                        labels: registered.labels.clone(),
                    });
                    tracing::info!(node = %registered.node_name, labels = ?registered.labels, server = %self.inner.hub.server(), held = request.inventory.len(), "registered with the hub");
                    for task in registered.reconciled {
                        match task.state {
                            Some(state) if !state.is_terminal() => {
                                if let Some(command) = task.command {
                                    self.obey(&task.id, command);
                                }
                            }
                            // The hub canceled it, ended it, or gave it away meanwhile.
                            state => {
                                tracing::warn!(task = %task.id, ?state, "the hub no longer wants this task run here; stopping it");
                                self.obey(&task.id, CommandKind::Cancel);
                            }
                        }
                    }
                    return Ok(Some(registered.settings));
                }
                Err(error) if error.is_transient() => {
                    self.set_connected(false);
                    if !told {
                        tracing::warn!(%error, "the hub is unreachable; retrying until it answers");
                        told = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.wait()) => {}
                        _ = self.inner.ctx.stop.cancelled() => return Ok(None),
                    }
                }
                Err(error) if self.is_revoked(&error) => return Ok(None),
                Err(error) => return Err(AgentError::Refused(error)),
            }
        }
    }

    /// Takes the node's name and labels from the hub, saying when they changed.
    fn set_identity(&self, identity: NodeIdentity) {
        let changed = self.inner.identity.send_if_modified(|now| {
            let changed = now.as_ref() != Some(&identity);
            *now = Some(identity.clone());
            changed
        });
        if changed {
            tracing::info!(node = %identity.name, labels = ?identity.labels, "the hub names this node");
        }
    }

    async fn sample(&self) -> gantry_protocol::wire::SystemInfo {
        let monitor = self.inner.monitor.clone();
        let mut system =
            tokio::task::spawn_blocking(move || monitor.lock().expect("monitor poisoned").sample())
                .await
                .unwrap_or_default();
        self.inner.ctx.metrics.sampled_gpus(&system.gpus);
        match &self.inner.ctx.engine {
            Ok(engine) => {
                if let Ok(version) = engine.version().await {
                    system.extra.insert("docker".into(), version);
                }
            }
            Err(problem) => {
                system
                    .extra
                    .insert("docker_problem".into(), problem.clone());
            }
        }
        system
    }

    pub(super) async fn heartbeats(&self, interval: Duration) {
        let stop = self.inner.ctx.stop.clone();
        let mut yielding = self.inner.yielding.subscribe();
        let mut gpus = self.inner.ctx.gpus.changes();
        loop {
            let mode = *self.inner.mode.borrow();
            let verdict = yielding.borrow_and_update().clone();
            let beat = Heartbeat {
                system: Some(self.sample().await),
                tasks: self.held_tasks(),
                accepting: mode.accepting() && verdict.as_ref().is_none_or(|v| v.gpu_only),
                draining: mode.draining,
                capacity: Some(self.inner.ctx.gpus.capacity().await),
                yielding: verdict.as_ref().map(crate::yielding::Verdict::report),
                gpu_use: self.gpu_reports(),
                image_policy: self.inner.ctx.config.image_policy_to_send(),
            };
            match self.inner.hub.heartbeat(&beat).await {
                Ok(reply) => {
                    self.set_connected(true);
                    self.inner.gpu_meter.delivered(&beat.gpu_use);
                    if let Some(identity) = reply.node {
                        self.set_identity(identity);
                    }
                    for command in reply.commands {
                        self.obey(&command.task_id, command.command);
                    }
                }
                Err(error) if self.is_revoked(&error) => return,
                Err(error) => {
                    if *self.inner.connected.borrow() {
                        tracing::warn!(%error, "heartbeat failed; the hub may be unreachable");
                    }
                    self.set_connected(false);
                }
            }
            // A new verdict, or a GPU given back, goes to the hub at once: it
            // offers only what the node would take.
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = yielding.changed() => {}
                _ = gpus.changed() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Long-polls the hub for requests, so a person's cancel or pause reaches
    /// the task at once rather than with the next heartbeat.
    pub(super) async fn listen_for_commands(&self) {
        let stop = self.inner.ctx.stop.clone();
        let mut backoff = Backoff::default();
        loop {
            let reply = tokio::select! {
                reply = self.inner.hub.commands(Duration::from_secs(30)) => reply,
                _ = stop.cancelled() => return,
            };
            let pause = match reply {
                Ok(reply) if reply.commands.is_empty() => Duration::ZERO,
                Ok(reply) => {
                    for command in reply.commands {
                        self.obey(&command.task_id, command.command);
                    }
                    // A request stays pending until the task reports the result;
                    // a short pause keeps the loop from re-asking meanwhile.
                    Duration::from_millis(500)
                }
                Err(error) if self.is_revoked(&error) => return,
                Err(_) => backoff.wait(),
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    fn held_tasks(&self) -> Vec<HeldTask> {
        let held = self.inner.held.lock().expect("held map poisoned");
        held.iter()
            .map(|(id, h)| HeldTask {
                id: id.clone(),
                state: *h.state.borrow(),
                // The hub's log: earlier runs' bytes, then this spool's.
                log_size: h.log_base
                    + crate::spool::newest(&self.inner.ctx.host.task_dir(id))
                        .and_then(|path| std::fs::metadata(path).ok())
                        .map_or(0, |m| m.len()),
            })
            .collect()
    }

    /// Acts on a request for one task; `false` if the agent does not hold it.
    pub(super) fn obey(&self, task_id: &str, command: CommandKind) -> bool {
        let mut held = self.inner.held.lock().expect("held map poisoned");
        let Some(task) = held.get_mut(task_id) else {
            return false;
        };
        match command {
            CommandKind::Cancel => task.cancel.cancel(),
            // Only a change is sent: a repeated request must not pause a paused container again.
            // A resume does not thaw what yielding froze; the yield's end does.
            CommandKind::Pause | CommandKind::Resume => {
                task.person_paused = command == CommandKind::Pause;
                task.steer();
            }
        }
        true
    }

    pub(super) async fn poll(&self) {
        let stop = self.inner.ctx.stop.clone();
        let mut mode = self.inner.mode.subscribe();
        let mut yielding = self.inner.yielding.subscribe();
        let mut slots = self.inner.slots.subscribe();
        let mut backoff = Backoff::default();
        loop {
            // Wait for a free slot and an accepting mode, not yielding all work.
            loop {
                let free = self.inner.held.lock().expect("held map poisoned").len()
                    < self.inner.ctx.config.max_tasks;
                yielding.borrow_and_update();
                if free && mode.borrow_and_update().accepting() && !self.yields_all() {
                    break;
                }
                tokio::select! {
                    _ = mode.changed() => {}
                    _ = yielding.changed() => {}
                    _ = slots.changed() => {}
                    _ = stop.cancelled() => return,
                }
            }
            // Pausing, draining or yielding all work abandons a long-poll
            // already in flight, or it would still bring one more task.
            let next = tokio::select! {
                next = self.inner.hub.next(Duration::from_secs(30)) => next,
                _ = stops_accepting(&mut mode) => continue,
                _ = self.yields_all_now(&mut yielding) => continue,
                _ = stop.cancelled() => return,
            };
            match next {
                Ok(Next::Task(task)) => {
                    backoff.reset();
                    self.set_connected(true);
                    self.start_task(*task, None);
                }
                Ok(Next::Idle) => {
                    backoff.reset();
                    self.set_connected(true);
                }
                Err(error) if self.is_revoked(&error) => return,
                Err(error) => {
                    if *self.inner.connected.borrow() {
                        tracing::warn!(%error, "asking the hub for work failed; retrying");
                    }
                    self.set_connected(false);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.wait()) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        }
    }
}

impl Agent {
    /// Resolves when the node yields all its work.
    async fn yields_all_now(
        &self,
        yielding: &mut watch::Receiver<Option<crate::yielding::Verdict>>,
    ) {
        loop {
            yielding.borrow_and_update();
            if self.yields_all() {
                return;
            }
            if yielding.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Resolves when the agent stops taking tasks.
async fn stops_accepting(mode: &mut watch::Receiver<Mode>) {
    while mode.borrow_and_update().accepting() {
        if mode.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

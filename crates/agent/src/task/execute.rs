//! The main step: the task's command runs, as a subprocess or in the main
//! container that preparing created; after a restart, that container is
//! found again by its labels and watched to its end. Freezes and thaws reach
//! the hub as they happen.
//!
//! Both executors end in a [`Finished`].

use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_protocol::wire::TaskEvent;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{AfterMain, Launch, Outcome, Runner, Stage};
use crate::docker::Engine;
use crate::executor::{Control, ExecError, Exit, Finished, StreamCounts};
use crate::record::Step;

/// Why the main command could not run to its end.
#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Reattach(#[from] ReattachError),
    #[error("the task's record names a container, but the task uses the process executor")]
    NoContainer,
}

/// Why a container could not be picked up again after a restart.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReattachError {
    #[error("cannot look for the task's container after the agent restarted: {0}")]
    Find(ExecError),
    #[error("the task's {role} container is gone (removed while the agent was stopped)")]
    Gone { role: &'static str },
    #[error("the agent stopped before the task's container started; nothing ran")]
    NeverStarted,
    #[error(transparent)]
    Watch(ExecError),
}

impl Runner<'_> {
    /// Runs (or re-attaches) the main command; next is the epilogue,
    /// finishing if it could not run, or nothing more if the agent leaves.
    pub(super) async fn execute(&self, launch: Launch) -> Stage {
        // Where the main container's output begins, for a release's record.
        let base = match &launch {
            Launch::Process => None,
            Launch::Container(_) => Some(self.log.held()),
            Launch::Reattach { base } => Some(*base),
        };
        if let Some(reason) = self.released()
            && !matches!(launch, Launch::Reattach { .. })
        {
            // Released before its command started: nothing ran. (A container
            // found again after a restart is stopped below, its output kept.)
            return Stage::Released(reason);
        }
        let (grace, grace_now) = tokio::sync::watch::channel(self.ctx.config.stop_grace);
        let (mut control, forward) = self.main_control(grace_now);
        let stop_process = control.cancel.clone();
        let ran = tokio::select! {
            ran = self.run_main(launch, &mut control) => ran,
            never = self.stop_when_released(base, stop_process, grace) => match never {},
        };
        // Dropping the control ends the forwarding once every freeze is told.
        drop(control);
        let _ = forward.await;
        let released = self.released().filter(|_| !self.run.cancel.is_cancelled());
        match ran {
            Err(error) => match released {
                // A restart found the released task's container gone: nothing more to stop.
                Some(reason) => Stage::Released(reason),
                None => Stage::Finishing(Outcome::failed(error.to_string())),
            },
            Ok((main, _)) if main.exit == Exit::Detached => Stage::Left,
            Ok(_) if let Some(reason) = released => Stage::Released(reason),
            Ok((main, base)) => Stage::Epilogue(AfterMain::Ended {
                base: base.plus(main.output),
                main,
            }),
        }
    }

    /// Runs the main command to its end; with how it ended, where its output
    /// began in the spool.
    async fn run_main(
        &self,
        launch: Launch,
        control: &mut Control,
    ) -> Result<(Finished, StreamCounts), MainError> {
        let held = self.log.held();
        let sink = self.log.sink();
        match launch {
            Launch::Process => {
                self.record(Step::Process).await;
                self.running().await;
                let finished = crate::process::run(&self.command, control, sink).await?;
                Ok((finished, held))
            }
            Launch::Container(container) => {
                let engine = self.engine().ok_or(MainError::NoContainer)?;
                // Recorded before the start: from here on, a restart looks for this container.
                self.record(Step::Main { base: held }).await;
                self.running().await;
                let finished = engine
                    .start(&container, self.command.timeout, control, sink)
                    .await;
                if !matches!(&finished, Ok(f) if f.exit == Exit::Detached) {
                    engine.remove(&container).await;
                }
                Ok((finished?, held))
            }
            Launch::Reattach { base } => {
                let engine = self.engine().ok_or(MainError::NoContainer)?;
                let _ = self.run.state.send(TaskState::Running);
                let skip = held.since(base);
                let finished = self
                    .reattach(engine, "main", self.command.timeout, control, skip)
                    .await?;
                Ok((finished, base))
            }
        }
    }

    /// Why the node released the task, once it did.
    pub(super) fn released(&self) -> Option<String> {
        self.run.release.borrow().clone()
    }

    /// Waits for a release, then stops the main command with the yield's
    /// grace: a container with `docker stop`, a subprocess through its
    /// control's cancel (SIGTERM to its group, the grace, SIGKILL). Never
    /// returns: the command's end ends the main step.
    async fn stop_when_released(
        &self,
        base: Option<StreamCounts>,
        stop_process: tokio_util::sync::CancellationToken,
        process_grace: tokio::sync::watch::Sender<std::time::Duration>,
    ) -> std::convert::Infallible {
        let mut release = self.run.release.clone();
        let reason = release
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| (*r).clone());
        if let Some(reason) = reason {
            // Recorded before the signal: from here on, a restart finishes the release.
            self.record(Step::Releasing { reason, base }).await;
            let grace = self.ctx.config.yielding.grace;
            tracing::info!(task = %self.run.task.id, ?grace, "releasing the task: SIGTERM, then SIGKILL after the grace");
            match self.engine() {
                Some(engine) => {
                    engine.release_main(&self.run.task.id, grace).await;
                }
                None => {
                    process_grace.send_replace(grace);
                    stop_process.cancel();
                }
            }
        }
        std::future::pending().await
    }

    /// The main command's steering, and a job that tells the agent and the
    /// hub of each freeze and thaw; the job ends when the control is dropped.
    fn main_control(
        &self,
        grace: tokio::sync::watch::Receiver<std::time::Duration>,
    ) -> (Control, JoinHandle<()>) {
        let (frozen_tx, mut frozen_rx) = mpsc::unbounded_channel();
        let control = Control {
            // Its own branch: a release stops a subprocess without canceling the task.
            cancel: self.run.cancel.child_token(),
            detach: self.run.detach.clone(),
            paused: self.run.paused.clone(),
            frozen: frozen_tx,
            grace,
        };
        let reporter = self.reporter.clone();
        let state = self.run.state.clone();
        let forward = tokio::spawn(async move {
            while let Some(frozen) = frozen_rx.recv().await {
                let (now, event) = if frozen {
                    (TaskState::Paused, TaskEvent::Paused {})
                } else {
                    (TaskState::Running, TaskEvent::Running {})
                };
                let _ = state.send(now);
                reporter.send(event, true).await;
            }
        });
        (control, forward)
    }

    /// Finds the task's `role` container after a restart and watches it to
    /// its end; the first `skip` bytes of each stream are in the spool already.
    pub(super) async fn reattach(
        &self,
        engine: &Engine,
        role: &'static str,
        timeout: Option<Duration>,
        control: &mut Control,
        skip: StreamCounts,
    ) -> Result<Finished, ReattachError> {
        let id = &self.run.task.id;
        let found = engine
            .find(id, role)
            .await
            .map_err(ReattachError::Find)?
            .ok_or(ReattachError::Gone { role })?;
        if !found.started {
            // The agent stopped between creating and starting it.
            engine.remove(&found.id).await;
            return Err(ReattachError::NeverStarted);
        }
        // Time already run counts against the timeout.
        let timeout_left = timeout.map(|timeout| {
            let ran = found
                .started_at_nanos
                .map(|at| Duration::from_nanos((crate::clock::now_nanos() - at).max(0) as u64))
                .unwrap_or_default();
            timeout.saturating_sub(ran)
        });
        tracing::info!(task = %id, role, container = %found.id, "re-attaching to the task's container");
        engine
            .reattach(
                &found.id,
                timeout_left,
                found.paused,
                control,
                self.log.sink(),
                skip,
            )
            .await
            .map_err(ReattachError::Watch)
    }
}

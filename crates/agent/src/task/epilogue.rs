//! The epilogue: the job's `always` commands, then `on_pass` or `on_fail`,
//! run after the main command in one shell (each in its own subshell, so a
//! failure is remembered and the rest still run), with the task's result in
//! `GANTRY_TASK_RESULT` and `GANTRY_TASK_EXIT_CODE`. A canceled task runs
//! none. Its failure is a note on the outcome, never a new outcome.

use gantry_protocol::TaskState;
use gantry_protocol::job::Executor;
use tokio::sync::{mpsc, watch};

use super::{AfterMain, Outcome, Runner, Stage};
use crate::docker::ContainerPlan;
use crate::executor::{Command, Control, ExecError, Exit, Finished, StreamCounts};
use crate::record::Step;

impl Runner<'_> {
    /// Runs (or re-attaches) the epilogue; next are the outputs, finishing
    /// for a canceled task, or nothing more if the agent leaves.
    pub(super) async fn epilogue(&self, after: AfterMain) -> Stage {
        match after {
            AfterMain::Ended { main, base } => {
                let mut outcome =
                    Outcome::of_main(&self.run.task.spec, main.exit, main.note.clone());
                if outcome.state == TaskState::Canceled {
                    // As in the Semaphore agent, a stopped task runs no epilogue.
                    return Stage::Finishing(outcome);
                }
                let _ = self.run.state.send(TaskState::Running);
                match self.run_epilogue(&outcome, main, base).await {
                    Some(notes) => {
                        outcome.note(notes);
                        Stage::Outputs(outcome)
                    }
                    None => Stage::Left,
                }
            }
            AfterMain::Recorded { base, main, note } => {
                self.reattach_epilogue(base, main, note).await
            }
        }
    }

    /// Runs the epilogue commands that apply: notes on what failed, or
    /// `None` if the agent left the epilogue running.
    async fn run_epilogue(
        &self,
        outcome: &Outcome,
        main: Finished,
        base: StreamCounts,
    ) -> Option<Vec<String>> {
        let spec = &self.run.task.spec;
        let id = &self.run.task.id;
        let Some(epilogue) = self.epilogue_command(outcome) else {
            return Some(Vec::new());
        };
        let mut control = self.epilogue_control();
        let sink = self.log.sink();
        let (exit, note) = match (&spec.executor, &self.ctx.engine) {
            (Executor::Process, _) => {
                match crate::process::run(&epilogue, &mut control, sink).await {
                    Ok(finished) => (Ok(finished.exit), finished.note),
                    Err(error) => (Err(error), None),
                }
            }
            (Executor::Docker, Ok(engine)) => {
                let plan = ContainerPlan {
                    task_id: id.clone(),
                    node: self.ctx.node.clone(),
                    role: "epilogue",
                    name: format!("gantry-{id}-epilogue"),
                    image: spec.image.clone().unwrap_or_default(),
                    command: epilogue,
                    inputs: spec
                        .inputs
                        .iter()
                        .map(|(sha256, path)| (self.ctx.host.blob(sha256), path.clone()))
                        .collect(),
                    resources: spec.resources.clone(),
                    gpu_ids: self.ctx.gpus.held_by(id),
                    network: (!spec.services.is_empty()).then(|| format!("gantry-{id}")),
                    aliases: Vec::new(),
                    extra_hosts: Vec::new(),
                };
                match engine.create(&plan).await {
                    Ok(container) => {
                        self.record(Step::Epilogue {
                            base,
                            main: main.exit,
                            note: main.note,
                        })
                        .await;
                        let watched = engine
                            .start(&container, plan.command.timeout, &mut control, sink)
                            .await;
                        if matches!(&watched, Ok(w) if w.exit == Exit::Detached) {
                            return None;
                        }
                        engine.remove(&container).await;
                        match watched {
                            Ok(w) => (Ok(w.exit), w.note),
                            Err(error) => (Err(error), None),
                        }
                    }
                    Err(error) => (Err(error), None),
                }
            }
            (Executor::Docker, Err(why)) => (Err(ExecError::DockerUnavailable(why.clone())), None),
        };
        Some(epilogue_note(exit).into_iter().chain(note).collect())
    }

    /// The epilogue as one shell command, or `None` if the job has none
    /// that applies.
    fn epilogue_command(&self, outcome: &Outcome) -> Option<Command> {
        let spec = &self.run.task.spec;
        let passed = outcome.state == TaskState::Succeeded;
        let mut commands: Vec<&String> = spec.epilogue.always.iter().collect();
        commands.extend(if passed {
            &spec.epilogue.on_pass
        } else {
            &spec.epilogue.on_fail
        });
        if commands.is_empty() {
            return None;
        }
        // Each command runs in its own subshell; a failure is remembered and the rest still run.
        let mut script = String::from("status=0\n");
        for command in &commands {
            script.push_str(&format!("( {command}\n) || status=$?\n"));
        }
        script.push_str("exit $status\n");
        let mut env = self.command.env.clone();
        env.insert(
            "GANTRY_TASK_RESULT".into(),
            if passed { "passed" } else { "failed" }.into(),
        );
        if let Some(code) = outcome.exit_code {
            env.insert("GANTRY_TASK_EXIT_CODE".into(), code.to_string());
        }
        Some(Command {
            argv: vec!["/bin/sh".into(), "-c".into(), script],
            env,
            work_dir: self.command.work_dir.clone(),
            timeout: Some(self.ctx.config.epilogue_timeout),
        })
    }

    /// Watches the epilogue container that ran when the agent stopped.
    async fn reattach_epilogue(
        &self,
        base: StreamCounts,
        main: Exit,
        note: Option<String>,
    ) -> Stage {
        let Some(engine) = self.engine() else {
            return Stage::Finishing(Outcome::failed(
                "the task's record names an epilogue container, but the task uses the process executor",
            ));
        };
        let mut outcome = Outcome::of_main(&self.run.task.spec, main, note);
        let mut control = self.epilogue_control();
        let skip = self.log.held().since(base);
        let ended = self
            .reattach(
                engine,
                "epilogue",
                Some(self.ctx.config.epilogue_timeout),
                &mut control,
                skip,
            )
            .await;
        let notes = match ended {
            Ok(w) if w.exit == Exit::Detached => return Stage::Left,
            Ok(w) => epilogue_note(Ok(w.exit))
                .into_iter()
                .chain(w.note)
                .collect::<Vec<_>>(),
            Err(reason) => vec![format!(
                "the epilogue could not be picked up again: {reason}"
            )],
        };
        outcome.note(notes);
        Stage::Outputs(outcome)
    }

    /// The epilogue's steering: cancel and detach as the task's; it is never
    /// paused.
    fn epilogue_control(&self) -> Control {
        Control {
            cancel: self.run.cancel.clone(),
            detach: self.run.detach.clone(),
            paused: watch::channel(false).1,
            frozen: mpsc::unbounded_channel().0,
            grace: tokio::sync::watch::channel(self.ctx.config.stop_grace).1,
        }
    }
}

/// What to say about an epilogue that ended so; `None` when it went well.
fn epilogue_note(exit: Result<Exit, ExecError>) -> Option<String> {
    match exit {
        Ok(Exit::Code(0)) => None,
        Ok(Exit::Code(code)) => Some(format!("the epilogue failed with code {code}")),
        Ok(Exit::TimedOut) => {
            Some("the epilogue ran longer than 30 minutes and was stopped".into())
        }
        Ok(Exit::Canceled) => Some("the epilogue was canceled".into()),
        Ok(Exit::OutOfMemory) => Some("the epilogue ran out of memory".into()),
        Ok(Exit::Detached) => None,
        Err(error) => Some(format!("the epilogue could not run: {error}")),
    }
}

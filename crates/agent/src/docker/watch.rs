//! A task's container watched to its end: attached before it starts, or
//! found again and re-read after the agent or the engine restarted; steered
//! meanwhile (cancel, pause, timeout), waited through an engine that went
//! away, and its end told as a [`Finished`], as every executor tells it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::models::{ContainerStateStatusEnum, ContainerWaitResponse};
use bollard::query_parameters::{AttachContainerOptionsBuilder, ListContainersOptionsBuilder};
use futures::StreamExt;

use super::engine::{classify, is_connection_error};
use super::output::{Output, forward};
use super::{Engine, LABEL_ROLE, LABEL_TASK, reread};
use crate::executor::{
    Control, Deadline, ExecError, Exit, Finished, LogSink, StreamCounts, sleep_until,
};

impl Engine {
    /// Starts a created container and watches it to its end, sending its
    /// output to `sink` and obeying `control`. The caller removes it.
    pub async fn start(
        &self,
        id: &str,
        timeout: Option<Duration>,
        control: &mut Control,
        sink: &LogSink,
    ) -> Result<Finished, ExecError> {
        // Streams only: the engine attaches them before it answers, so with
        // the start after the attach nothing is missed. `logs` would also
        // replay the log file, and output written while that replay runs
        // would come twice (seen with a task that printed one line and
        // exited: its line was logged twice, one run in five).
        let attach = AttachContainerOptionsBuilder::new()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = self
            .call(
                "attach to the container",
                self.docker.attach_container(id, Some(attach)),
            )
            .await?;
        let counts = Arc::new(Mutex::new(StreamCounts::default()));
        let reader = tokio::spawn(forward(attached.output, sink.clone(), counts.clone()));
        if let Err(error) = self
            .call("start the container", self.docker.start_container(id, None))
            .await
        {
            reader.abort();
            return Err(error);
        }
        let output = Output::Attached { reader, counts };
        self.follow(id, Deadline::new(timeout), control, sink, output)
            .await
    }

    /// Watches a container started before the agent last stopped, to its end:
    /// output after the first `skip` bytes of each stream (which the spool
    /// holds) goes to `sink`, read back from the engine's log.
    /// `paused_now` says whether it is frozen; it is frozen or thawed to
    /// match what `control` asks.
    pub async fn reattach(
        &self,
        id: &str,
        timeout_left: Option<Duration>,
        paused_now: bool,
        control: &mut Control,
        sink: &LogSink,
        skip: StreamCounts,
    ) -> Result<Finished, ExecError> {
        let wanted = *control.paused.borrow_and_update();
        if wanted != paused_now {
            let done = if wanted {
                self.call("pause the container", self.docker.pause_container(id))
                    .await
            } else {
                self.call("resume the container", self.docker.unpause_container(id))
                    .await
            };
            match done {
                Ok(()) => {
                    let _ = control.frozen.send(wanted);
                }
                Err(error) => tracing::warn!(%error, "pause or resume failed"),
            }
        } else if paused_now {
            let _ = control.frozen.send(true);
        }
        let output = self.reread(id, skip, sink);
        self.follow(id, Deadline::new(timeout_left), control, sink, output)
            .await
    }

    /// Finds the container of a task's role, if it still exists.
    pub async fn find(&self, task_id: &str, role: &str) -> Result<Option<Found>, ExecError> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{LABEL_TASK}={task_id}"),
                format!("{LABEL_ROLE}={role}"),
            ],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .call(
                "list the task's containers",
                self.docker.list_containers(Some(options)),
            )
            .await?;
        let Some(id) = listed.into_iter().find_map(|c| c.id) else {
            return Ok(None);
        };
        let inspected = self
            .call(
                "inspect the container",
                self.docker.inspect_container(&id, None),
            )
            .await?;
        let state = inspected.state.unwrap_or_default();
        let started = state
            .started_at
            .as_deref()
            .and_then(|t| reread::parse_timestamp(t.as_bytes()));
        Ok(Some(Found {
            id,
            started: !matches!(state.status, Some(ContainerStateStatusEnum::CREATED) | None),
            paused: state.paused.unwrap_or(false),
            started_at_nanos: started,
        }))
    }

    /// Watches a started container to its end. When the engine goes away
    /// meanwhile, waits for it to come back and goes on by re-reading the log.
    async fn follow(
        &self,
        id: &str,
        mut deadline: Deadline,
        control: &mut Control,
        sink: &LogSink,
        mut output: Output,
    ) -> Result<Finished, ExecError> {
        let mut stopping: Option<Exit> = None;
        let mut engine_lost = false;
        let waited = loop {
            match self
                .supervise(id, &mut deadline, control, &mut stopping)
                .await
            {
                Supervised::Waited(waited) => break waited,
                Supervised::Detached => {
                    let counts = output.abandon().await;
                    return Ok(Finished {
                        exit: Exit::Detached,
                        output: counts,
                        note: None,
                    });
                }
                Supervised::EngineLost(error) => {
                    tracing::warn!(%error, container = id, "lost the Docker engine; waiting for it to come back");
                    engine_lost = true;
                    let counts = output.abandon().await;
                    if !self.reconnect(id, control).await? {
                        return Ok(Finished {
                            exit: Exit::Detached,
                            output: counts,
                            note: None,
                        });
                    }
                    output = self.reread(id, counts, sink);
                }
            }
        };
        let (counts, proof) = output.finish().await;
        let mut notes: Vec<String> = proof.into_iter().collect();
        if engine_lost {
            notes.push("the Docker engine restarted while the task ran".into());
        }
        let note = |notes: Vec<String>| (!notes.is_empty()).then(|| notes.join("; "));
        if let Some(exit) = stopping {
            return Ok(Finished {
                exit,
                output: counts,
                note: note(notes),
            });
        }
        let exit = self
            .exit_of(id, waited, control, engine_lost, &mut notes)
            .await?;
        Ok(Finished {
            exit,
            output: counts,
            note: note(notes),
        })
    }

    /// How a container that ended by itself exited, from the wait's answer
    /// and the container's state; what is worth telling goes to `notes`.
    async fn exit_of(
        &self,
        id: &str,
        waited: Option<Result<ContainerWaitResponse, DockerError>>,
        control: &Control,
        mut engine_lost: bool,
        notes: &mut Vec<String>,
    ) -> Result<Exit, ExecError> {
        let code = match waited {
            Some(Ok(response)) => response.status_code,
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(error)) => return Err(classify("wait for the container", error)),
            None => {
                return Err(ExecError::Other(
                    "Docker ended the wait without an exit code".into(),
                ));
            }
        };
        // The engine may be going down as the container ends (it stops
        // containers when it stops): wait for it, to read the end and to
        // remove the container.
        let mut tries = 0;
        let exit = loop {
            match self
                .call(
                    "inspect the container",
                    self.docker.inspect_container(id, None),
                )
                .await
            {
                Ok(inspected) => {
                    break if inspected
                        .state
                        .as_ref()
                        .and_then(|s| s.oom_killed)
                        .unwrap_or(false)
                    {
                        Exit::OutOfMemory
                    } else {
                        Exit::Code(code)
                    };
                }
                Err(ExecError::DockerUnavailable(_) | ExecError::Timeout(_)) if tries < 3 => {
                    tries += 1;
                    if !engine_lost {
                        engine_lost = true;
                        notes.push("the Docker engine restarted while the task ran".into());
                    }
                    if !matches!(self.reconnect(id, control).await, Ok(true)) {
                        break Exit::Code(code);
                    }
                }
                Err(_) => break Exit::Code(code),
            }
        };
        if let Exit::Code(code @ (137 | 143)) = exit
            && !engine_lost
        {
            // SIGKILL or SIGTERM, and not from Gantry: `docker stop`, or the
            // engine stopping its containers as it shuts down.
            tokio::time::sleep(Duration::from_millis(500)).await;
            notes.push(if self.version().await.is_err() {
                // Wait for it, so the container can be removed.
                let _ = self.reconnect(id, control).await;
                "the Docker engine stopped while the task ran".to_owned()
            } else {
                format!(
                    "stopped by signal {} from outside Gantry (docker stop or kill, or the Docker engine shutting down)",
                    code - 128
                )
            });
        }
        Ok(exit)
    }

    /// Waits for the container to end while obeying `control`.
    async fn supervise(
        &self,
        id: &str,
        deadline: &mut Deadline,
        control: &mut Control,
        stopping: &mut Option<Exit>,
    ) -> Supervised {
        let mut steerable = true;
        let mut wait = self.docker.wait_container(id, None);
        loop {
            tokio::select! {
                waited = wait.next() => {
                    return match waited {
                        Some(Err(error)) if is_connection_error(&error) => {
                            Supervised::EngineLost(classify("wait for the container", error))
                        }
                        other => Supervised::Waited(other),
                    };
                }
                _ = control.detach.cancelled(), if stopping.is_none() => return Supervised::Detached,
                _ = control.cancel.cancelled(), if stopping.is_none() => {
                    *stopping = Some(Exit::Canceled);
                    {
                        let grace = *control.grace.borrow();
                        self.stop(id, grace).await;
                    }
                }
                _ = sleep_until(deadline.at()), if stopping.is_none() => {
                    *stopping = Some(Exit::TimedOut);
                    {
                        let grace = *control.grace.borrow();
                        self.stop(id, grace).await;
                    }
                }
                changed = control.paused.changed(), if steerable => {
                    if changed.is_err() {
                        // Nobody can pause this container any more.
                        steerable = false;
                        continue;
                    }
                    let pause = *control.paused.borrow_and_update();
                    let done = if pause {
                        self.call("pause the container", self.docker.pause_container(id)).await
                    } else {
                        self.call("resume the container", self.docker.unpause_container(id)).await
                    };
                    match done {
                        Ok(()) => {
                            if pause { deadline.pause() } else { deadline.resume() }
                            let _ = control.frozen.send(pause);
                        }
                        Err(error) => tracing::warn!(%error, "pause or resume failed"),
                    }
                }
            }
        }
    }
}

/// A task's container found on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The container's id.
    pub id: String,
    /// Whether it was ever started (a created-only container ran nothing).
    pub started: bool,
    /// Whether it is frozen now.
    pub paused: bool,
    /// When it started, in nanoseconds since the epoch.
    pub started_at_nanos: Option<i128>,
}

enum Supervised {
    Waited(Option<Result<ContainerWaitResponse, DockerError>>),
    Detached,
    EngineLost(ExecError),
}

//! One task, from acceptance to its final state, in one straight line:
//!
//! accept → task folder (files, inputs) → pull → services → run, output to
//! the spool and on to the hub → exit → epilogue → outputs kept or uploaded →
//! log flushed → final state → cleanup.
//!
//! Every failure becomes a final state with a sentence a person can act on;
//! nothing here panics or leaves a container behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_protocol::TaskState;
use gantry_protocol::job::{Executor, JobSpec, PullPolicy};
use gantry_protocol::wire::{
    CommandKind, OutputFile, OutputManifest, OutputStore, PullProgress, Task, TaskEvent,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::docker::{ContainerPlan, Engine, Watched};
use crate::executor::{Chunk, Command, Control, ExecError, Exit, LogSink, Stream};
use crate::host::{HostDir, inside};
use crate::record::{Records, Step, TaskRecord};
use crate::spool::{Backoff, ShipPace, Spool, StreamCounts, ship};
use crate::statsd::{Statsd, metric};
use gantry_client::HubClient;

/// What every task shares with the agent.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The agent's settings.
    pub config: Arc<AgentConfig>,
    /// The agent's folder.
    pub host: HostDir,
    /// The Docker engine, or why there is none.
    pub engine: Result<Engine, String>,
    /// The hub, or `None` for `gantry run` (no hub).
    pub hub: Option<HubClient>,
    /// This node's name, for container labels.
    pub node: String,
    /// Metrics, when configured.
    pub statsd: Option<Arc<Statsd>>,
    /// Cancelled when the agent shuts down: retries end.
    pub stop: CancellationToken,
    /// Told when the hub answers again after an outage.
    pub hub_back: Arc<tokio::sync::Notify>,
}

/// One task to run, with the handles that steer and watch it.
#[derive(Debug)]
pub struct TaskRun {
    /// The task as the hub sent it.
    pub task: Task,
    /// Cancels it.
    pub cancel: CancellationToken,
    /// Leaves its container running, to be picked up when the agent starts again.
    pub detach: CancellationToken,
    /// The hub's size of its log, when known: shipping resumes there.
    pub log_offset: u64,
    /// `true` while it should be frozen.
    pub paused: watch::Receiver<bool>,
    /// Its state as the agent sees it, for status and heartbeats.
    pub state: watch::Sender<TaskState>,
    /// Its image pull's progress while it pulls, for status.
    pub pull: watch::Sender<Option<PullProgress>>,
    /// Also write its output to this process's stdout and stderr (`gantry run`).
    pub echo: bool,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// `succeeded`, `failed` or `canceled`.
    pub state: TaskState,
    /// The command's exit code, if it ran and exited.
    pub exit_code: Option<i64>,
    /// Why it failed or was canceled, and anything else worth saying (a failed epilogue).
    pub reason: Option<String>,
}

impl Outcome {
    pub(crate) fn failed(reason: impl Into<String>) -> Outcome {
        Outcome {
            state: TaskState::Failed,
            exit_code: None,
            reason: Some(reason.into()),
        }
    }
}

/// Runs a task to its end and reports everything to the hub. `None` when
/// the agent left it running, to pick it up when it starts again.
pub async fn run(ctx: &TaskContext, run: TaskRun) -> Option<Outcome> {
    drive(ctx, run, None).await
}

/// Picks up a task the agent held when it last stopped, at the recorded step:
/// re-attaches to its container, or reports how it ended meanwhile.
pub async fn resume(ctx: &TaskContext, run: TaskRun, step: Step) -> Option<Outcome> {
    drive(ctx, run, Some(step)).await
}

async fn drive(ctx: &TaskContext, run: TaskRun, resumed: Option<Step>) -> Option<Outcome> {
    let id = run.task.id.clone();
    let reporter = Reporter {
        hub: ctx.hub.clone(),
        id: id.clone(),
        cancel: run.cancel.clone(),
        stop: ctx.stop.clone(),
    };
    // Without a hub (`gantry run`) nothing is picked up later: no record.
    let records = ctx.hub.as_ref().map(|_| Records::new(ctx.host.clone()));
    let save = |step: Step| {
        if let Some(records) = &records {
            let record = TaskRecord {
                task: run.task.clone(),
                step,
            };
            if let Err(error) = records.save(&record) {
                tracing::error!(%error, task = %id, "cannot record the task's step; it cannot be picked up after a crash");
            }
        }
    };
    let task_dir = ctx.host.task_dir(&id);
    let spool = if resumed.is_some() {
        Spool::reopen(&task_dir).await
    } else {
        save(Step::Preparing);
        reporter.send(TaskEvent::Accepted, true).await;
        if let Some(statsd) = &ctx.statsd {
            statsd.count(metric::TASKS_STARTED, 1);
        }
        Spool::create(&task_dir).await
    };
    let mut spool = match spool {
        Ok(spool) => spool,
        Err(error) => {
            let outcome = Outcome::failed(format!(
                "cannot write the task's log in {}: {error}",
                task_dir.display()
            ));
            if reporter.finish(&outcome).await
                && let Some(records) = &records
            {
                records.remove(&id);
            }
            return Some(outcome);
        }
    };
    let held = spool.counts();
    let (sink, mut chunks) = mpsc::channel::<Chunk>(64);
    let shipper = ctx.hub.clone().map(|hub| {
        let pace = ShipPace::default();
        tokio::spawn(ship(
            hub,
            id.clone(),
            spool.path().to_owned(),
            spool.watch(),
            run.log_offset.min(spool.counts().total()),
            pace,
            ctx.stop.clone(),
            ctx.hub_back.clone(),
        ))
    });
    let echo = run.echo;
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        let mut stderr = tokio::io::stderr();
        while let Some(chunk) = chunks.recv().await {
            if let Err(error) = spool.append(chunk.stream, &chunk.bytes).await {
                // The disk refused; the hub still gets what reached the spool.
                tracing::error!(%error, "cannot append to the task's spool");
            }
            if echo {
                // A closed stdout (`| head`) must not stop the task.
                let _ = match chunk.stream {
                    Stream::Stdout => stdout
                        .write_all(&chunk.bytes)
                        .await
                        .and(stdout.flush().await),
                    Stream::Stderr => stderr
                        .write_all(&chunk.bytes)
                        .await
                        .and(stderr.flush().await),
                };
            }
        }
        let _ = spool.sync().await;
        (spool.counts().total(), spool.path().to_owned())
    });

    let outcome = match resumed {
        Some(Step::Finishing { outcome }) => Some(outcome),
        resumed => execute(ctx, &run, &sink, &reporter, &save, held, resumed).await,
    };
    let Some(outcome) = outcome else {
        // Left running: what reached the spool is shipped while the hub
        // answers; the rest goes when the agent is back.
        drop(sink);
        let _ = writer.await;
        if let Some(shipper) = shipper {
            let _ = shipper.await;
        }
        return None;
    };
    save(Step::Finishing {
        outcome: outcome.clone(),
    });
    // Services, the network and the work folder go before the final state is
    // reported, so a finished task has nothing left behind but its log and results.
    if let (Ok(engine), Executor::Docker) = (&ctx.engine, run.task.spec.executor) {
        engine.remove_task(&id).await;
    }
    let delete = match outcome.state {
        TaskState::Succeeded => ctx.config.delete_task_dir_on_finish,
        _ => ctx.config.delete_task_dir_on_failure,
    };
    if delete {
        // Only the working folder goes: the log and the results stay.
        if let Err(error) = tokio::fs::remove_dir_all(ctx.host.work_dir(&id)).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, task = %id, "could not remove the task's working folder");
        }
    }
    drop(sink);
    let written = writer.await.ok();
    // The log reaches the hub before the final state, so whoever follows the
    // log and stops at the end has seen every byte.
    let mut outcome = outcome;
    if let Some(shipper) = shipper {
        let acked = shipper.await.unwrap_or(0);
        if let Some((size, path)) = written
            && acked < size
        {
            append_notes(
                &mut outcome,
                [format!(
                    "the hub holds {acked} of the log's {size} bytes; all of it is in {} on the node",
                    path.display()
                )],
            );
        }
    }
    // Forgotten only once the hub has the final state; else the next start says it again.
    if reporter.finish(&outcome).await
        && let Some(records) = &records
    {
        records.remove(&id);
    }
    let _ = run.state.send(outcome.state);
    if let Some(statsd) = &ctx.statsd {
        let name = if outcome.state == TaskState::Succeeded {
            metric::TASKS_FINISHED
        } else {
            metric::TASKS_FAILED
        };
        statsd.count(name, 1);
    }

    Some(outcome)
}

/// Runs the task's steps from the one it is at; `None` if the agent left its
/// container running.
async fn execute(
    ctx: &TaskContext,
    run: &TaskRun,
    sink: &LogSink,
    reporter: &Reporter,
    save: &(dyn Fn(Step) + Sync),
    held: StreamCounts,
    resumed: Option<Step>,
) -> Option<Outcome> {
    let spec = &run.task.spec;
    let id = &run.task.id;
    let work_dir = ctx.host.work_dir(id);
    let mut env = spec.env.clone();
    env.insert("GANTRY_TASK_ID".into(), id.clone());
    let command = Command {
        argv: spec.command.clone(),
        env: env.clone(),
        work_dir: work_dir.clone(),
        timeout: spec.timeout.map(|t| Duration::from_secs(t.0)),
    };
    let (frozen_tx, mut frozen_rx) = mpsc::unbounded_channel();
    let mut control = Control {
        cancel: run.cancel.clone(),
        detach: run.detach.clone(),
        paused: run.paused.clone(),
        frozen: frozen_tx,
        grace: ctx.config.stop_grace,
    };
    // Forward freezes and thaws to the hub as they happen.
    let forward = {
        let reporter = reporter.clone();
        let state = run.state.clone();
        tokio::spawn(async move {
            while let Some(frozen) = frozen_rx.recv().await {
                let now = if frozen {
                    TaskState::Paused
                } else {
                    TaskState::Running
                };
                let _ = state.send(now);
                reporter
                    .send(
                        if frozen {
                            TaskEvent::Paused
                        } else {
                            TaskEvent::Running
                        },
                        true,
                    )
                    .await;
            }
        })
    };

    let engine = match (&spec.executor, &ctx.engine) {
        (Executor::Docker, Ok(engine)) => Some(engine),
        (Executor::Docker, Err(why)) if resumed.is_none() => {
            return Some(Outcome::failed(why.clone()));
        }
        (Executor::Docker, Err(why)) => {
            // A restart without Docker: the container may still run, but cannot be watched.
            return Some(Outcome::failed(format!(
                "the agent restarted and cannot reach Docker to pick the task up again: {why}"
            )));
        }
        (Executor::Process, _) => None,
    };
    let (main, main_note, epilogue_base) = match resumed {
        None | Some(Step::Preparing) => {
            if let (Some(engine), Some(_)) = (engine, &resumed) {
                // Containers created but never started ran nothing: start over.
                engine.remove_task(id).await;
            }
            let inputs = match prepare(ctx, spec, &work_dir).await {
                Ok(inputs) => inputs,
                Err(reason) => return Some(Outcome::failed(reason)),
            };
            let watched = match engine {
                None => {
                    save(Step::Process);
                    let _ = run.state.send(TaskState::Running);
                    reporter.send(TaskEvent::Running, true).await;
                    crate::process::run(&command, &mut control, sink)
                        .await
                        .map(|exit| Watched {
                            exit,
                            output: StreamCounts::default(),
                            note: None,
                        })
                }
                Some(engine) => {
                    run_docker(
                        ctx,
                        run,
                        engine,
                        &command,
                        &inputs,
                        &mut control,
                        sink,
                        reporter,
                        save,
                        held,
                    )
                    .await
                }
            };
            match watched {
                Ok(w) => (w.exit, w.note, held.plus(w.output)),
                Err(error) => return Some(Outcome::failed(error.to_string())),
            }
        }
        Some(Step::Main { base }) => {
            let Some(engine) = engine else {
                return Some(Outcome::failed(
                    "the task's record names a container, but the task uses the process executor",
                ));
            };
            let _ = run.state.send(TaskState::Running);
            match reattach(
                run,
                engine,
                "main",
                command.timeout,
                &mut control,
                sink,
                held.since(base),
            )
            .await
            {
                Ok(w) => (w.exit, w.note, base.plus(w.output)),
                Err(reason) => return Some(Outcome::failed(reason)),
            }
        }
        Some(Step::Epilogue { base, main, note }) => {
            drop(control);
            let _ = forward.await;
            let Some(engine) = engine else {
                return Some(Outcome::failed(
                    "the task's record names an epilogue container, but the task uses the process executor",
                ));
            };
            let mut outcome = outcome_of(spec, main, note);
            let mut control = epilogue_control(ctx, run);
            let ended = reattach(
                run,
                engine,
                "epilogue",
                Some(EPILOGUE_TIMEOUT),
                &mut control,
                sink,
                held.since(base),
            )
            .await;
            let epilogue = match ended {
                Ok(w) if w.exit == Exit::Detached => return None,
                Ok(w) => epilogue_note(Ok(w.exit))
                    .into_iter()
                    .chain(w.note)
                    .collect::<Vec<_>>(),
                Err(reason) => vec![format!(
                    "the epilogue could not be picked up again: {reason}"
                )],
            };
            append_notes(&mut outcome, epilogue);
            if let Some(note) = collect_outputs(ctx, id, spec, &work_dir).await {
                append_notes(&mut outcome, [note]);
            }
            return Some(outcome);
        }
        Some(Step::Process) => {
            return Some(Outcome::failed(
                "the agent stopped while this task's process ran; a process task cannot be picked up again \
                 (use the docker executor for tasks that must survive an agent restart)",
            ));
        }
        Some(Step::Finishing { outcome }) => return Some(outcome),
    };
    drop(control);
    let _ = forward.await;
    if main == Exit::Detached {
        return None;
    }
    let mut outcome = outcome_of(spec, main, main_note.clone());
    if outcome.state == TaskState::Canceled {
        // As in the Semaphore agent, a stopped task runs no epilogue.
        return Some(outcome);
    }
    let _ = run.state.send(TaskState::Running);
    match epilogue(
        ctx,
        run,
        &command,
        &outcome,
        sink,
        save,
        main,
        main_note,
        epilogue_base,
    )
    .await
    {
        Epilogue::Detached => return None,
        Epilogue::Ran(notes) => append_notes(&mut outcome, notes),
    }
    if let Some(note) = collect_outputs(ctx, id, spec, &work_dir).await {
        append_notes(&mut outcome, [note]);
    }
    Some(outcome)
}

const EPILOGUE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn append_notes(outcome: &mut Outcome, notes: impl IntoIterator<Item = String>) {
    for note in notes {
        outcome.reason = Some(match outcome.reason.take() {
            Some(reason) => format!("{reason}; {note}"),
            None => note,
        });
    }
}

/// The outcome a command's end gives the task.
fn outcome_of(spec: &JobSpec, exit: Exit, note: Option<String>) -> Outcome {
    let mut outcome = match exit {
        Exit::Code(0) => Outcome {
            state: TaskState::Succeeded,
            exit_code: Some(0),
            reason: None,
        },
        Exit::Code(code) => Outcome {
            state: TaskState::Failed,
            exit_code: Some(code),
            reason: Some(format!("exited with code {code}")),
        },
        Exit::TimedOut => Outcome::failed(format!(
            "stopped after running longer than its timeout of {}",
            spec.timeout.map(|t| t.to_string()).unwrap_or_default()
        )),
        Exit::Canceled => Outcome {
            state: TaskState::Canceled,
            exit_code: None,
            reason: Some("canceled".into()),
        },
        Exit::OutOfMemory => Outcome {
            state: TaskState::Failed,
            exit_code: Some(137),
            reason: Some(format!(
                "killed for using more memory than its limit of {}",
                spec.resources
                    .memory
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "the machine".into())
            )),
        },
        Exit::Detached => Outcome::failed("the agent left the task running"),
    };
    append_notes(&mut outcome, note);
    outcome
}

/// Finds a task's container after a restart and watches it to its end.
async fn reattach(
    run: &TaskRun,
    engine: &Engine,
    role: &str,
    timeout: Option<Duration>,
    control: &mut Control,
    sink: &LogSink,
    skip: StreamCounts,
) -> Result<Watched, String> {
    let found = engine.find(&run.task.id, role).await.map_err(|e| {
        format!("cannot look for the task's container after the agent restarted: {e}")
    })?;
    let Some(found) = found else {
        return Err(format!(
            "the task's {role} container is gone (removed while the agent was stopped)"
        ));
    };
    if !found.started {
        // The agent stopped between creating and starting it.
        engine.remove(&found.id).await;
        return Err("the agent stopped before the task's container started; nothing ran".into());
    }
    // Time already run counts against the timeout.
    let timeout_left = timeout.map(|timeout| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let ran = found
            .started_at_nanos
            .map(|at| Duration::from_nanos((now - at).max(0) as u64))
            .unwrap_or_default();
        timeout.saturating_sub(ran)
    });
    tracing::info!(task = %run.task.id, role, container = %found.id, "re-attaching to the task's container");
    engine
        .reattach(&found.id, timeout_left, found.paused, control, sink, skip)
        .await
        .map_err(|e| e.to_string())
}

#[allow(clippy::too_many_arguments)] // the steps of one run; grouping them would only rename them
async fn run_docker(
    ctx: &TaskContext,
    run: &TaskRun,
    engine: &Engine,
    command: &Command,
    inputs: &[(PathBuf, String)],
    control: &mut Control,
    sink: &LogSink,
    reporter: &Reporter,
    save: &(dyn Fn(Step) + Sync),
    held: StreamCounts,
) -> Result<Watched, ExecError> {
    let spec = &run.task.spec;
    let id = &run.task.id;
    let image = spec.image.clone().unwrap_or_default();
    let policy = spec.pull.unwrap_or(if ctx.config.pull_always {
        PullPolicy::Always
    } else {
        PullPolicy::Missing
    });
    let _ = run.state.send(TaskState::Pulling);
    reporter
        .send(TaskEvent::Pulling { progress: None }, true)
        .await;
    let mut images = vec![image.clone()];
    images.extend(spec.services.iter().map(|s| s.image.clone()));
    for image in &images {
        // A pull can take long; an agent told to leave does not wait for it.
        tokio::select! {
            pulled = ensure_image(ctx, engine, image, policy, reporter, &run.pull) => pulled?,
            _ = control.detach.cancelled() => return Ok(detached()),
        }
    }
    let mut network = None;
    // Services are also written into the task's /etc/hosts, so their names
    // resolve even where the engine's DNS does not (some VMs, rootless setups).
    let mut extra_hosts = Vec::new();
    if !spec.services.is_empty() {
        let name = engine.create_network(id, &ctx.node).await?;
        for service in &spec.services {
            let plan = ContainerPlan {
                task_id: id.clone(),
                node: ctx.node.clone(),
                role: "service",
                name: format!("gantry-{id}-{}", service.name),
                image: service.image.clone(),
                command: Command {
                    argv: service.command.clone(),
                    env: service.env.clone(),
                    work_dir: command.work_dir.clone(),
                    timeout: None,
                },
                inputs: Vec::new(),
                resources: Default::default(),
                network: Some(name.clone()),
                aliases: vec![service.name.clone()],
                extra_hosts: Vec::new(),
            };
            if let Some(address) = engine.start_detached(&plan).await? {
                extra_hosts.push(format!("{}:{address}", service.name));
            }
        }
        network = Some(name);
    }
    let plan = ContainerPlan {
        task_id: id.clone(),
        node: ctx.node.clone(),
        role: "main",
        name: format!("gantry-{id}"),
        image,
        command: command.clone(),
        inputs: inputs.to_vec(),
        resources: spec.resources.clone(),
        network,
        aliases: Vec::new(),
        extra_hosts,
    };
    if control.detach.is_cancelled() {
        return Ok(detached());
    }
    let container = engine.create(&plan).await?;
    // Recorded before the start: from here on, a restart looks for this container.
    save(Step::Main { base: held });
    let _ = run.state.send(TaskState::Running);
    reporter.send(TaskEvent::Running, true).await;
    let watched = engine
        .start(&container, command.timeout, control, sink)
        .await;
    if !matches!(&watched, Ok(w) if w.exit == Exit::Detached) {
        engine.remove(&container).await;
    }
    watched
}

fn detached() -> Watched {
    Watched {
        exit: Exit::Detached,
        output: StreamCounts::default(),
        note: None,
    }
}
/// Pulls an image as the policy says; pull progress goes to the hub about once a second.
async fn ensure_image(
    ctx: &TaskContext,
    engine: &Engine,
    image: &str,
    policy: PullPolicy,
    reporter: &Reporter,
    shown: &watch::Sender<Option<PullProgress>>,
) -> Result<(), ExecError> {
    let present = engine.has_image(image).await?;
    if present && policy == PullPolicy::Missing {
        return Ok(());
    }
    let started = Instant::now();
    let (progress_tx, mut progress_rx) = watch::channel(None::<PullProgress>);
    let forward = {
        let reporter = reporter.clone();
        tokio::spawn(async move {
            while progress_rx.changed().await.is_ok() {
                let progress = *progress_rx.borrow_and_update();
                reporter.send(TaskEvent::Pulling { progress }, false).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let pulled = engine
        .pull(image, &ctx.config.registries, |progress| {
            progress_tx.send_replace(Some(progress));
            shown.send_replace(Some(progress));
        })
        .await;
    drop(progress_tx);
    shown.send_replace(None);
    let _ = forward.await;
    if let Some(statsd) = &ctx.statsd {
        statsd.timing(metric::DOCKER_PULL_DURATION, started.elapsed());
        statsd.count(
            if pulled.is_ok() {
                metric::DOCKER_PULL_SUCCESS
            } else {
                metric::DOCKER_PULL_FAILURE
            },
            1,
        );
    }
    match pulled {
        Ok(()) => Ok(()),
        // Offline, or the registry is down: a copy on this machine still runs the task.
        Err(error @ (ExecError::Other(_) | ExecError::Timeout(_))) if present => {
            tracing::warn!(%error, image, "pull failed; using the copy already on this machine");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Writes the job's files and fetches its inputs. Returns the inputs as
/// (blob on this machine, path in the task folder).
async fn prepare(
    ctx: &TaskContext,
    spec: &JobSpec,
    work_dir: &Path,
) -> Result<Vec<(PathBuf, String)>, String> {
    crate::host::create_private_dir(work_dir)
        .map_err(|e| format!("cannot create the task folder {}: {e}", work_dir.display()))?;
    for file in &spec.files {
        let target = inside(work_dir, &file.path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("cannot create the folder for {}: {e}", file.path))?;
        }
        match (&file.content, &file.blob) {
            (Some(content), _) => tokio::fs::write(&target, content).await,
            (None, Some(blob)) => {
                let source = fetch_blob(ctx, blob).await?;
                tokio::fs::copy(&source, &target).await.map(|_| ())
            }
            (None, None) => Ok(()),
        }
        .map_err(|e| format!("cannot write the file {}: {e}", file.path))?;
        let mode = if file.executable { 0o755 } else { 0o644 };
        use std::os::unix::fs::PermissionsExt;
        let _ = tokio::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).await;
    }
    let mut inputs = Vec::new();
    for (sha256, path) in &spec.inputs {
        let blob = fetch_blob(ctx, sha256).await?;
        let target = inside(work_dir, path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("cannot create the folder for {path}: {e}"))?;
        }
        if spec.executor == Executor::Process {
            // A copy: a subprocess runs as this user and could change a linked blob.
            tokio::fs::copy(&blob, &target)
                .await
                .map_err(|e| format!("cannot place the input {path}: {e}"))?;
        } else {
            // Docker mounts the blob read-only; its mount point must exist as a file.
            let _ = tokio::fs::write(&target, b"").await;
        }
        inputs.push((blob, path.clone()));
    }
    Ok(inputs)
}

/// The blob's path in local storage, downloading (and verifying) it from the hub if needed.
async fn fetch_blob(ctx: &TaskContext, sha256: &str) -> Result<PathBuf, String> {
    if ctx.host.has_blob(sha256) {
        return Ok(ctx.host.blob(sha256));
    }
    let Some(hub) = &ctx.hub else {
        return Err(format!(
            "blob {sha256} is not in local storage, and there is no hub to fetch it from"
        ));
    };
    let stream = hub
        .blob(sha256)
        .await
        .map_err(|e| format!("cannot fetch blob {sha256} from the hub: {e}"))?;
    ctx.host
        .store_blob(sha256, Box::pin(stream))
        .await
        .map_err(|e| format!("cannot store blob {sha256}: {e}"))?;
    Ok(ctx.host.blob(sha256))
}

/// How the epilogue went.
enum Epilogue {
    /// It ran (or had nothing to run); notes on what failed.
    Ran(Vec<String>),
    /// The agent left it running.
    Detached,
}

fn epilogue_control(ctx: &TaskContext, run: &TaskRun) -> Control {
    Control {
        cancel: run.cancel.clone(),
        detach: run.detach.clone(),
        paused: watch::channel(false).1,
        frozen: mpsc::unbounded_channel().0,
        grace: ctx.config.stop_grace,
    }
}

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

/// Runs the epilogue commands that apply.
#[allow(clippy::too_many_arguments)] // the parts of one step
async fn epilogue(
    ctx: &TaskContext,
    run: &TaskRun,
    command: &Command,
    outcome: &Outcome,
    sink: &LogSink,
    save: &(dyn Fn(Step) + Sync),
    main: Exit,
    main_note: Option<String>,
    base: StreamCounts,
) -> Epilogue {
    let spec = &run.task.spec;
    let passed = outcome.state == TaskState::Succeeded;
    let mut commands: Vec<&String> = spec.epilogue.always.iter().collect();
    commands.extend(if passed {
        &spec.epilogue.on_pass
    } else {
        &spec.epilogue.on_fail
    });
    if commands.is_empty() {
        return Epilogue::Ran(Vec::new());
    }
    // Each command runs in its own subshell; a failure is remembered and the rest still run.
    let mut script = String::from("status=0\n");
    for command in &commands {
        script.push_str(&format!("( {command}\n) || status=$?\n"));
    }
    script.push_str("exit $status\n");
    let mut env = command.env.clone();
    env.insert(
        "GANTRY_TASK_RESULT".into(),
        if passed { "passed" } else { "failed" }.into(),
    );
    if let Some(code) = outcome.exit_code {
        env.insert("GANTRY_TASK_EXIT_CODE".into(), code.to_string());
    }
    let epilogue = Command {
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        env,
        work_dir: command.work_dir.clone(),
        timeout: Some(EPILOGUE_TIMEOUT),
    };
    let mut control = epilogue_control(ctx, run);
    let (exit, note) = match (&spec.executor, &ctx.engine) {
        (Executor::Process, _) => (
            crate::process::run(&epilogue, &mut control, sink).await,
            None,
        ),
        (Executor::Docker, Ok(engine)) => {
            let plan = ContainerPlan {
                task_id: run.task.id.clone(),
                node: ctx.node.clone(),
                role: "epilogue",
                name: format!("gantry-{}-epilogue", run.task.id),
                image: spec.image.clone().unwrap_or_default(),
                command: epilogue,
                inputs: input_mounts(ctx, spec),
                resources: spec.resources.clone(),
                network: (!spec.services.is_empty()).then(|| format!("gantry-{}", run.task.id)),
                aliases: Vec::new(),
                extra_hosts: Vec::new(),
            };
            match engine.create(&plan).await {
                Ok(container) => {
                    save(Step::Epilogue {
                        base,
                        main,
                        note: main_note,
                    });
                    let watched = engine
                        .start(&container, plan.command.timeout, &mut control, sink)
                        .await;
                    if matches!(&watched, Ok(w) if w.exit == Exit::Detached) {
                        return Epilogue::Detached;
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
    Epilogue::Ran(epilogue_note(exit).into_iter().chain(note).collect())
}

/// The inputs as mounted: (blob on this machine, path in the task folder).
fn input_mounts(ctx: &TaskContext, spec: &JobSpec) -> Vec<(PathBuf, String)> {
    spec.inputs
        .iter()
        .map(|(sha256, path)| (ctx.host.blob(sha256), path.clone()))
        .collect()
}

/// Keeps the outputs in local storage, or uploads them, and reports their
/// manifest. Returns a note about outputs that were missing or failed.
async fn collect_outputs(
    ctx: &TaskContext,
    id: &str,
    spec: &JobSpec,
    work_dir: &Path,
) -> Option<String> {
    if spec.outputs.is_empty() {
        return None;
    }
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for output in &spec.outputs {
        let root = inside(work_dir, output);
        let found = match walk(&root) {
            Ok(found) => found,
            Err(_) => {
                problems.push(format!("output {output} was not found"));
                continue;
            }
        };
        for path in found {
            let relative = path
                .strip_prefix(work_dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let kept = if ctx.config.with_local_storage || ctx.hub.is_none() {
                ctx.host
                    .keep_output(id, &path, &relative)
                    .await
                    .map(|(sha256, size)| (sha256, size, OutputStore::Node))
                    .map_err(|e| e.to_string())
            } else {
                upload(ctx, &path)
                    .await
                    .map(|(sha256, size)| (sha256, size, OutputStore::Hub))
            };
            match kept {
                Ok((sha256, size, stored)) => files.push(OutputFile {
                    path: relative,
                    size,
                    sha256,
                    stored,
                }),
                Err(error) => {
                    problems.push(format!("output {relative} could not be kept: {error}"))
                }
            }
        }
    }
    if let Some(hub) = &ctx.hub {
        let manifest = OutputManifest { files };
        let mut backoff = Backoff::default();
        loop {
            match hub.put_outputs(id, &manifest).await {
                Ok(_) => break,
                Err(error) if error.is_transient() && !ctx.stop.is_cancelled() => {
                    tokio::time::sleep(backoff.wait()).await;
                }
                Err(error) => {
                    problems.push(format!("the outputs' list could not be sent: {error}"));
                    break;
                }
            }
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

async fn upload(ctx: &TaskContext, path: &Path) -> Result<(String, u64), String> {
    let hub = ctx.hub.as_ref().ok_or("no hub to upload to")?;
    let (sha256, size) = crate::host::hash_file(path)
        .await
        .map_err(|e| e.to_string())?;
    if hub
        .blob_size(&sha256)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        hub.put_blob_file(&sha256, path)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok((sha256, size))
}

/// The files at `root`: itself if a file, else every file below it, in order.
fn walk(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let metadata = std::fs::symlink_metadata(root)?;
    if metadata.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    if !metadata.is_dir() {
        // Symlinks could point outside the task folder; they are not outputs.
        return Ok(Vec::new());
    }
    let mut entries: Vec<_> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        files.extend(walk(&entry)?);
    }
    Ok(files)
}

/// Reports a task's events to the hub, retrying what must arrive.
#[derive(Debug, Clone)]
struct Reporter {
    hub: Option<HubClient>,
    id: String,
    cancel: CancellationToken,
    stop: CancellationToken,
}

impl Reporter {
    /// Sends an event. With `must`, network failures are retried until the
    /// hub answers or the agent stops. A cancel riding on the answer cancels
    /// the task. `false` if the agent stopped before the hub answered.
    async fn send(&self, event: TaskEvent, must: bool) -> bool {
        let Some(hub) = &self.hub else { return true };
        let mut backoff = Backoff::default();
        loop {
            match hub.event(&self.id, &event).await {
                Ok(ack) => {
                    if ack.command == Some(CommandKind::Cancel) || ack.state == TaskState::Canceled
                    {
                        self.cancel.cancel();
                    }
                    return true;
                }
                Err(error) if must && error.is_transient() => {
                    tracing::debug!(%error, task = %self.id, "event not delivered; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.wait()) => {}
                        _ = self.stop.cancelled() => return false,
                    }
                }
                Err(error) => {
                    if error.code() == Some("not_found") {
                        // The hub gave the task to someone else or forgot it: stop working on it.
                        tracing::warn!(task = %self.id, "the hub no longer lists this task for this node; stopping it");
                        self.cancel.cancel();
                    } else if must {
                        tracing::warn!(%error, task = %self.id, "the hub refused an event");
                    }
                    // Refused for good: saying it again would not help.
                    return true;
                }
            }
        }
    }

    /// Reports the final state; `false` if the agent stopped before the hub answered.
    async fn finish(&self, outcome: &Outcome) -> bool {
        let event = match outcome.state {
            TaskState::Succeeded => TaskEvent::Finished {
                exit_code: 0,
                reason: outcome.reason.clone(),
            },
            TaskState::Canceled => TaskEvent::Canceled {
                reason: outcome.reason.clone(),
            },
            _ => match outcome.exit_code {
                Some(code) if code != 0 => TaskEvent::Finished {
                    exit_code: code,
                    reason: outcome.reason.clone(),
                },
                exit_code => TaskEvent::Failed {
                    reason: outcome.reason.clone().unwrap_or_else(|| "failed".into()),
                    exit_code,
                },
            },
        };
        self.send(event, true).await
    }
}

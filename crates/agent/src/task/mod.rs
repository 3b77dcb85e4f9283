//! One task, from acceptance to its final state, as a walk through steps:
//!
//! ```text
//! preparing ──▶ main ──▶ epilogue ──▶ outputs ──▶ finishing
//! folder,       the       on_pass,     kept or     containers removed, the
//! inputs,       command   on_fail,     uploaded    log flushed to the hub,
//! images,       runs      always                   the final state reported
//! services
//! ```
//!
//! A `Runner` owns what the task needs on the way (its context, its log,
//! its reporter, its record) and moves from one `Stage` to the next; each
//! step is a method in a file of its own. A new task enters at preparing. A
//! task the agent held when it last stopped enters at the step its record
//! names ([`Step`]): its main container is re-attached, or its epilogue, or
//! it only finishes. From there both go the same way to the end.
//!
//! A task released for the node's person (`release`: the node yields) leaves
//! the walk after its main step for `release.rs`: its checkpoint is kept and
//! uploaded, its log shipped, and it goes back to the hub's queue.
//!
//! A failure goes straight to finishing with a sentence a person can act
//! on; the agent leaving (`detach`) ends the walk where it is, with the
//! containers left running and the record saying where. Nothing here panics
//! or leaves a container behind.

mod checkpoint;
mod epilogue;
mod execute;
mod log;
mod outcome;
mod outputs;
mod prepare;
mod prepare_disk;
mod prepare_gpus;
mod prepare_tree;
mod release;
mod report;
#[cfg(test)]
mod tests;

pub use outcome::Outcome;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gantry_client::HubClient;
use gantry_protocol::TaskState;
use gantry_protocol::job::Executor;
use gantry_protocol::wire::{PullProgress, Task, TaskEvent};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::docker::Engine;
use crate::executor::{Command, Exit, Finished, StreamCounts};
use crate::gpus::GpuOwner;
use crate::host::HostDir;
use crate::record::{Records, Step, TaskRecord};
use crate::spool::Shipped;
use crate::statsd::{Statsd, metric};
use crate::usage::{CpuWatch, Meter, Tally};
use gantry_protocol::usage::TaskUsage;
use log::TaskLog;
use report::Reporter;

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
    /// The node's GPUs and which task holds which.
    pub gpus: Arc<GpuOwner>,
    /// Where tasks' output lines are copied (`--show-task-logs`), if anywhere.
    pub log_copy: Option<crate::log_copy::LogCopy>,
    /// The agent's counters for its metrics page ([`crate::metrics`]).
    pub metrics: Arc<crate::metrics::AgentMetrics>,
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
    /// `true` while it should be frozen.
    pub paused: watch::Receiver<bool>,
    /// Set (with the reason, "yielding: …") when the node yields by
    /// releasing it: stopped within the yield's grace, its checkpoint kept,
    /// and back to the hub's queue.
    pub release: watch::Receiver<Option<String>>,
    /// Its state as the agent sees it, for status and heartbeats.
    pub state: watch::Sender<TaskState>,
    /// Its image pull's progress while it pulls, for status.
    pub pull: watch::Sender<Option<PullProgress>>,
    /// Where its spool announces its length after each append; whoever made
    /// the channel keeps the other end, so readers of the log wait for bytes
    /// instead of polling ([`crate::node::Agent::tail`]). It closes when the
    /// task's output is complete.
    pub log_length: watch::Sender<u64>,
    /// Also write its output to this process's stdout and stderr (`gantry run`).
    pub echo: bool,
}

/// Runs a task to its end and reports everything to the hub. `None` when
/// the agent left it running, to pick it up when it starts again.
pub async fn run(ctx: &TaskContext, run: TaskRun) -> Option<Outcome> {
    let (runner, stage) = Runner::start(ctx, run, None).await;
    let meter = runner.usage.clone();
    crate::usage::METER.scope(meter, runner.walk(stage)).await
}

/// Picks up a task the agent held when it last stopped, at the recorded step:
/// re-attaches to its container, or reports how it ended meanwhile.
pub async fn resume(ctx: &TaskContext, run: TaskRun, step: Step) -> Option<Outcome> {
    let (runner, stage) = Runner::start(ctx, run, Some(step)).await;
    let meter = runner.usage.clone();
    crate::usage::METER.scope(meter, runner.walk(stage)).await
}

/// Where the walk is: a step, with what the steps before it handed on. The
/// record's [`Step`] is what survives a restart; a `Stage` also carries what
/// lives only in memory (the created container, how the main command ended).
#[derive(Debug)]
enum Stage {
    /// The task folder, inputs, images and services; `leftovers`: a restart
    /// found the task here, and containers it created but never started go first.
    Preparing { leftovers: bool },
    /// The main command runs.
    Main(Launch),
    /// The epilogue runs, unless the task was canceled.
    Epilogue(AfterMain),
    /// The outputs are kept or uploaded.
    Outputs(Outcome),
    /// Cleanup, the whole log to the hub, then the final state.
    Finishing(Outcome),
    /// The node released it (the reason): checkpoint kept, log shipped, back to the queue.
    Released(String),
    /// The agent left the task running; the record says where it is.
    Left,
}

/// How the main step gets the task's command running.
#[derive(Debug)]
enum Launch {
    /// Runs the subprocess (the process executor).
    Process,
    /// Starts the main container that preparing created.
    Container(String),
    /// Watches the main container again after a restart; its output began at
    /// `base` in the spool.
    Reattach { base: StreamCounts },
}

/// What the epilogue step starts from.
#[derive(Debug)]
enum AfterMain {
    /// The main command ended in this run of the agent; the epilogue's
    /// output begins at `base` in the spool.
    Ended { main: Finished, base: StreamCounts },
    /// The epilogue container ran when the agent stopped (from the record).
    Recorded {
        base: StreamCounts,
        main: Exit,
        note: Option<String>,
    },
}

/// Walks one task through its steps.
#[derive(Debug)]
struct Runner<'a> {
    ctx: &'a TaskContext,
    run: TaskRun,
    /// The main command; the epilogue runs in its folder with its environment.
    command: Command,
    reporter: Reporter,
    /// `None` without a hub (`gantry run`): nothing is picked up later.
    records: Option<Records>,
    log: TaskLog,
    /// What the task uses on this node (usage accounting).
    usage: Meter,
    /// Reads its containers' CPU time while it runs in Docker.
    cpu: Option<CpuWatch>,
    /// Its usage as recorded when it ended, for a task resumed at finishing.
    final_usage: Option<TaskUsage>,
}

impl<'a> Runner<'a> {
    /// Accepts a new task (recorded, reported, counted) or takes a resumed
    /// one back, opens its log, and says where its walk begins.
    async fn start(
        ctx: &'a TaskContext,
        mut run: TaskRun,
        resumed: Option<Step>,
    ) -> (Runner<'a>, Stage) {
        // Moved into the spool, whose dropping tells the log's readers it is complete.
        let length = std::mem::replace(&mut run.log_length, watch::channel(0).0);
        let id = run.task.id.clone();
        let reporter = Reporter::new(
            ctx.hub.clone(),
            id.clone(),
            run.cancel.clone(),
            ctx.stop.clone(),
        );
        let spec = &run.task.spec;
        let mut env = spec.env.clone();
        env.insert("GANTRY_TASK_ID".into(), id.clone());
        if let Some(path) = &spec.checkpoint {
            env.insert(
                "GANTRY_CHECKPOINT".into(),
                checkpoint::seen_by_task(spec.executor, &ctx.host.work_dir(&id), path),
            );
        }
        let command = Command {
            argv: spec.command.clone(),
            env,
            work_dir: ctx.host.work_dir(&id),
            // The job's own timeout, else the timeouts file's `task`.
            timeout: spec
                .timeout
                .map(|t| Duration::from_secs(t.0))
                .or(ctx.config.task_timeout),
        };
        let echo = run.echo;
        // `gantry run` echoes the output whole; an agent may copy its lines.
        let copy = match (&ctx.log_copy, echo) {
            (Some(copy), false) => Some(copy.task(&id, &run.task.name)),
            _ => None,
        };
        let mut runner = Runner {
            ctx,
            run,
            command,
            reporter,
            records: ctx.hub.as_ref().map(|_| Records::new(ctx.host.clone())),
            log: TaskLog::unopened(),
            usage: Meter::new(Tally {
                started_ms: crate::clock::now_ms(),
                ..Tally::default()
            }),
            cpu: None,
            final_usage: None,
        };
        if resumed.is_none() {
            runner.record(Step::Preparing).await;
            runner.reporter.send(TaskEvent::Accepted {}, true).await;
            if let Some(statsd) = &ctx.statsd {
                statsd.count(metric::TASKS_STARTED, 1);
            }
        }
        if resumed.is_some()
            && let Some(record) = runner.records.as_ref().and_then(|r| r.load(&id))
        {
            // A re-attached task keeps the devices it runs on.
            let request = gantry_protocol::gpu_assign::GpuRequest::of(&record.task.spec.resources);
            ctx.gpus.hold(&id, record.gpus, request.as_ref());
            if let Some(tally) = record.usage {
                runner.usage = Meter::new(tally);
            }
        }
        let base = runner.run.task.log_size;
        match TaskLog::open(ctx, &id, (echo, copy), length, resumed.is_some(), base).await {
            Ok(log) => {
                runner.log = log;
                let stage = runner.entry(resumed);
                (runner, stage)
            }
            Err(error) => {
                let reason = format!(
                    "cannot write the task's log in {}: {error}",
                    ctx.host.task_dir(&id).display()
                );
                (runner, Stage::Finishing(Outcome::failed(reason)))
            }
        }
    }

    /// The stage a task starts at: preparing when new, else its recorded step.
    fn entry(&mut self, resumed: Option<Step>) -> Stage {
        let docker_missing = match (&self.run.task.spec.executor, &self.ctx.engine) {
            (Executor::Docker, Err(why)) => Some(why),
            _ => None,
        };
        match (resumed, docker_missing) {
            (Some(Step::Finishing { outcome, usage }), _) => {
                self.final_usage = usage;
                Stage::Finishing(outcome)
            }
            (None, Some(why)) => Stage::Finishing(Outcome::failed(why.clone())),
            // A restart without Docker: the container may still run, but cannot be watched.
            (Some(_), Some(why)) => Stage::Finishing(Outcome::failed(format!(
                "the agent restarted and cannot reach Docker to pick the task up again: {why}"
            ))),
            (None, None) => Stage::Preparing { leftovers: false },
            (Some(Step::Preparing), None) => Stage::Preparing { leftovers: true },
            (Some(Step::Main { base }), None) => Stage::Main(Launch::Reattach { base }),
            // Its container is stopped with the rest of the grace and its output
            // collected; the release (set again by the node) then finishes.
            (
                Some(Step::Releasing {
                    base: Some(base), ..
                }),
                None,
            ) => Stage::Main(Launch::Reattach { base }),
            (Some(Step::Releasing { reason, .. }), None) => Stage::Released(reason),
            (Some(Step::Epilogue { base, main, note }), None) => {
                Stage::Epilogue(AfterMain::Recorded { base, main, note })
            }
            (Some(Step::Process), None) => Stage::Finishing(Outcome::failed(
                "the agent stopped while this task's process ran; a process task cannot be picked up again \
                 (use the docker executor for tasks that must survive an agent restart)",
            )),
        }
    }

    /// Walks from `stage` to the end. `None` if the agent left the task for
    /// its next start.
    async fn walk(mut self, mut stage: Stage) -> Option<Outcome> {
        if let Some(engine) = self.engine()
            && self.final_usage.is_none()
        {
            self.cpu = Some(CpuWatch::start(
                engine.clone(),
                self.run.task.id.clone(),
                self.usage.clone(),
                &self.ctx.stop,
            ));
        }
        loop {
            tracing::debug!(task = %self.run.task.id, ?stage, "task step");
            stage = match stage {
                Stage::Preparing { leftovers } => self.prepare(leftovers).await,
                Stage::Main(launch) => self.execute(launch).await,
                Stage::Epilogue(after) => self.epilogue(after).await,
                Stage::Outputs(outcome) => self.outputs(outcome).await,
                Stage::Finishing(outcome) => return self.finish(outcome).await,
                Stage::Released(reason) => return self.release(reason).await,
                Stage::Left => {
                    self.ctx.gpus.give_back(&self.run.task.id);
                    // What reached the spool is shipped while the hub answers;
                    // the rest goes when the agent is back.
                    self.log.close().await;
                    return None;
                }
            };
        }
    }

    /// The Docker engine, when the task runs in Docker and Docker answers.
    fn engine(&self) -> Option<&'a Engine> {
        let ctx: &'a TaskContext = self.ctx;
        match (&self.run.task.spec.executor, &ctx.engine) {
            (Executor::Docker, Ok(engine)) => Some(engine),
            _ => None,
        }
    }

    /// Records the task's step, so a restart picks it up there.
    async fn record(&self, step: Step) {
        let Some(records) = &self.records else { return };
        let record = TaskRecord {
            task: self.run.task.clone(),
            step,
            gpus: self.ctx.gpus.held_by(&self.run.task.id),
            usage: Some(self.usage.tally()),
        };
        if let Err(error) = records.save(&record).await {
            tracing::error!(%error, task = %self.run.task.id, "cannot record the task's step; it cannot be picked up after a crash");
        }
    }

    /// What the task used, as it ends: its CPU watch's last reading, its
    /// GPUs' energy counters now (before they are given back), or what the
    /// record kept when it ended before a restart.
    async fn final_usage(&mut self) -> TaskUsage {
        if let Some(usage) = self.final_usage.take() {
            return usage;
        }
        let energy = self.stop_measuring().await;
        self.usage.usage(crate::clock::now_ms(), &energy)
    }

    /// Ends the measuring of a run: the CPU watch's last reading taken, and
    /// the energy counters (uuid → millijoules) of the GPUs it holds read
    /// now, before they are given back.
    async fn stop_measuring(&mut self) -> BTreeMap<String, u64> {
        if let Some(cpu) = self.cpu.take() {
            cpu.finish().await;
        }
        let held = self.ctx.gpus.held_by(&self.run.task.id);
        crate::usage::gpu_counters(&self.ctx.gpus, held)
            .await
            .into_iter()
            .filter_map(|(uuid, _, energy)| Some((uuid, energy?)))
            .collect()
    }

    /// Tells the agent and the hub the task's command runs.
    async fn running(&self) {
        let _ = self.run.state.send(TaskState::Running);
        self.reporter.send(TaskEvent::Running {}, true).await;
    }

    /// Finishing: the task's services, network and working folder go, the
    /// log reaches the hub, then the final state. The hub learns the final
    /// state only once it holds the whole log, or refused the rest for good
    /// (then the reason says how much it holds and where the whole log is).
    /// `None` if the agent stopped and the hub did not take the rest of the
    /// log at once: the record keeps the outcome, and the next start ships
    /// the rest and reports it.
    async fn finish(mut self, mut outcome: Outcome) -> Option<Outcome> {
        let ctx = self.ctx;
        let id = self.run.task.id.clone();
        let usage = self.final_usage().await;
        self.record(Step::Finishing {
            outcome: outcome.clone(),
            usage: Some(usage.clone()),
        })
        .await;
        // Gone before the final state is reported, so a finished task has
        // nothing left behind but its log and results.
        if let Some(engine) = self.engine() {
            engine.remove_task(&id).await;
        }
        ctx.gpus.give_back(&id);
        let delete = match outcome.state {
            TaskState::Succeeded => ctx.config.delete_task_dir_on_finish,
            _ => ctx.config.delete_task_dir_on_failure,
        };
        if delete {
            // Only the working folder goes: the log and the results stay.
            if let Err(error) = tokio::fs::remove_dir_all(&self.command.work_dir).await
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%error, task = %id, "could not remove the task's working folder");
            }
        }
        // The log reaches the hub before the final state, so whoever follows
        // the log and stops at the end has seen every byte.
        let Runner {
            run,
            reporter,
            records,
            log,
            ..
        } = self;
        let closed = log.close().await;
        match closed.missing() {
            Some((Shipped::Stopped { acked }, size, _)) => {
                tracing::info!(task = %id, acked, size, "the agent stops before the hub took the task's whole log; the rest and the final state go at the next start");
                return None;
            }
            Some((shipped, size, path)) => outcome.note([format!(
                "the hub holds {} of the log's {size} bytes; all of it is in {} on the node",
                shipped.acked(),
                path.display()
            )]),
            None => {}
        }
        // Forgotten only once the hub has the final state; else the next start says it again.
        if reporter.finish(&outcome, Some(usage)).await
            && let Some(records) = &records
        {
            records.remove(&id).await;
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
}

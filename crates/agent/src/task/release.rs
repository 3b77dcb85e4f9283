//! Releasing a task: the node yields to its person with the `release`
//! action, which frees what the task holds (GPU memory included) and hands
//! the task back to the hub's queue for whichever node is free.
//!
//! Its command was stopped in the main step (SIGTERM, the grace to write its
//! checkpoint, SIGKILL), after its record said `releasing`: an agent that
//! restarts in between finds the container again (its output read, the
//! grace given again), or comes straight here when none ran, and finishes
//! the release. Here its containers go, its `checkpoint:` folder is kept in
//! the host dir and uploaded, its log reaches the hub with a line
//! saying why it stopped, and `Released{reason, checkpoint, usage}` is
//! reported: what this run used counts for this node.
//! Once the hub acknowledged, the task is forgotten here: its record and
//! its folder go (the checkpoint copy stays, for a next run on this node).

use gantry_protocol::TaskState;
use gantry_protocol::wire::TaskEvent;

use super::{Outcome, Runner, checkpoint};
use crate::executor::{Chunk, Stream};
use crate::record::Step;

impl Runner<'_> {
    /// Releases the task; its outcome says `queued`, or `None` when the
    /// agent stopped before the hub took the report (the record then still
    /// holds the task, which the next start picks up).
    pub(super) async fn release(mut self, reason: String) -> Option<Outcome> {
        let ctx = self.ctx;
        let id = self.run.task.id.clone();
        self.record(Step::Releasing {
            reason: reason.clone(),
            base: None,
        })
        .await;
        if let Some(engine) = self.engine() {
            // After a restart mid-release its container may still be in its
            // grace: it gets the rest of it before everything goes.
            engine.release_main(&id, ctx.config.yielding.grace).await;
        }
        // Read while the container is still there (its last CPU figure) and
        // before the GPUs go; the run's usage is taken once its checkpoint's
        // upload has counted too.
        let energy = self.stop_measuring().await;
        if let Some(engine) = self.engine() {
            engine.remove_task(&id).await;
        }
        // What release is for: its GPUs are free for the person (or the next task).
        ctx.gpus.give_back(&id);
        let checkpoint = match checkpoint::keep(ctx, &self.run.task, &self.command.work_dir).await {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                tracing::warn!(%error, task = %id, "the released task's checkpoint could not be kept");
                self.say(format!(
                        "gantry: the checkpoint could not be kept ({error}); the next run starts without it\n"
                    ))
                    .await;
                None
            }
        };
        self.say(format!(
            "gantry: released ({reason}); the task goes back to the queue{}\n",
            if checkpoint.is_some() {
                " with its checkpoint"
            } else {
                ""
            }
        ))
        .await;
        let usage = self.usage.usage(crate::clock::now_ms(), &energy);
        let Runner {
            run,
            reporter,
            records,
            log,
            command,
            ..
        } = self;
        let closed = log.close().await;
        let whole_log = closed.missing().is_none();
        let event = TaskEvent::Released {
            reason: reason.clone(),
            checkpoint,
            usage: Some(usage),
        };
        if !reporter.send(event, true).await {
            tracing::info!(task = %id, "the agent stops before the hub took the release");
            return None;
        }
        if let Some(records) = &records {
            records.remove(&id).await;
        }
        // The folder goes with its spool once the hub holds the whole log.
        let task_dir = command.work_dir.parent().map(ToOwned::to_owned);
        if whole_log
            && let Some(task_dir) = task_dir
            && let Err(error) = tokio::fs::remove_dir_all(&task_dir).await
        {
            tracing::warn!(%error, task = %id, "could not remove the released task's folder");
        }
        let _ = run.state.send(TaskState::Queued);
        Some(Outcome {
            state: TaskState::Queued,
            exit_code: None,
            reason: Some(reason),
        })
    }

    /// Writes a line of the agent's own into the task's log.
    async fn say(&self, line: String) {
        let chunk = Chunk {
            stream: Stream::Stderr,
            bytes: line.into(),
        };
        let _ = self.log.sink().send(chunk).await;
    }
}

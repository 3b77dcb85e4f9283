//! Tasks: the queue, claiming work, each task's state and history, the
//! requests people make (cancel, pause, resume) and the results nodes report.
//!
//! Every change of a task's state writes its line of history
//! (`task_transitions`) in the same transaction: [`set_state`] and
//! [`requeue`] do both, and the nodes' file uses them too.

use gantry_protocol::wire::{CommandKind, OutputFile, PullProgress, Task, TaskEvent, Transition};
use gantry_protocol::{JobSpec, TaskState};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, json, parse_json, parse_state};
use crate::HubError;

/// What became of an event from a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// Applied (or already applied): the state now, and a request waiting for the node.
    Applied(TaskState, Option<CommandKind>),
    /// The move is not allowed from the task's state.
    Refused(TaskState),
}

/// What became of a request to cancel, pause or resume a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Done or queued for the node; the task's state now.
    Accepted(TaskState),
    /// Not possible from the task's state.
    Refused(TaskState),
}

/// The columns [`task_from_row`] reads, from `tasks t` joined with `nodes n`.
pub(super) const TASK_COLUMNS: &str = "t.id, t.name, t.state, t.spec, t.exit_code, t.reason, t.created_at, t.updated_at, \
     t.started_at, t.finished_at, t.log_size, t.pending_command, t.pull_done, t.pull_total, t.outputs, t.checkpoint, t.gpu_use, \
     COALESCE(n.name, t.node_name) AS node_name";

impl Db {
    /// Queues a task; `target` is the id of the node its `node:` key names,
    /// `blobs` those its node may read (see `task_blobs`).
    pub async fn submit(
        &self,
        spec: &JobSpec,
        target: Option<&str>,
        submitted_by: &str,
        blobs: &[String],
        now: i64,
    ) -> Result<String, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let id = insert_task(&mut tx, spec, target, submitted_by, now).await?;
        super::data::add_task_blobs(&mut tx, &id, blobs).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Queues many tasks meant for no node and referencing no blob, in one
    /// transaction, each as [`Db::submit`] queues one: for filling a hub
    /// with tasks fast (`cargo xtask bench tasks_list`). Returns their ids.
    pub async fn submit_many(
        &self,
        specs: &[JobSpec],
        submitted_by: &str,
        now: i64,
    ) -> Result<Vec<String>, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(specs.len());
        for spec in specs {
            ids.push(insert_task(&mut tx, spec, None, submitted_by, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// One task, with its history. `node` limits the lookup to that node's tasks.
    pub async fn task(&self, id: &str, node: Option<&str>) -> Result<Option<Task>, HubError> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t LEFT JOIN nodes n ON n.id = t.node_id \
             WHERE t.id = $1 AND ($2 IS NULL OR t.node_id = $2)"
        ))
        .bind(id)
        .bind(node)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut task = task_from_row(&row)?;
        let history = sqlx::query(
            "SELECT state, at, reason FROM task_transitions WHERE task_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        task.history = history
            .iter()
            .map(|row| {
                Ok(Transition {
                    state: parse_state(&row.try_get::<String, _>("state")?)?,
                    at: row.try_get("at")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect::<Result<_, HubError>>()?;
        task.usage = self.task_usage(id).await?;
        Ok(Some(task))
    }

    /// Whether a task exists and is held by `node` (any task when `node` is `None`).
    pub async fn task_visible(
        &self,
        id: &str,
        node: Option<&str>,
    ) -> Result<Option<TaskState>, HubError> {
        let row =
            sqlx::query("SELECT state FROM tasks WHERE id = $1 AND ($2 IS NULL OR node_id = $2)")
                .bind(id)
                .bind(node)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| parse_state(&row.try_get::<String, _>("state")?))
            .transpose()
    }

    /// Applies a node's report about one of its tasks.
    pub async fn apply_event(
        &self,
        id: &str,
        node_id: &str,
        event: &TaskEvent,
        now: i64,
    ) -> Result<Option<EventOutcome>, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let Some((state, mut pending)) = held_by(&mut tx, id, node_id).await? else {
            return Ok(None);
        };

        let Some(next) = event.target_state() else {
            // `accepted` keeps the state and records the agent's promise to run it.
            if state == TaskState::Assigned {
                sqlx::query("UPDATE tasks SET accepted_at = COALESCE(accepted_at, $1), updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            return Ok(Some(EventOutcome::Applied(state, pending)));
        };
        if !state.node_may_move_to(next) {
            return Ok(Some(EventOutcome::Refused(state)));
        }
        if let TaskEvent::Pulling {
            progress: Some(PullProgress { done, total }),
        } = event
        {
            sqlx::query("UPDATE tasks SET pull_done = $1, pull_total = $2 WHERE id = $3")
                .bind(*done as i64)
                .bind(*total as i64)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if state != next {
            let (exit_code, reason) = match event {
                TaskEvent::Finished {
                    exit_code, reason, ..
                } => (
                    Some(*exit_code),
                    reason.clone().or_else(|| {
                        (*exit_code != 0).then(|| format!("exited with code {exit_code}"))
                    }),
                ),
                TaskEvent::Failed {
                    reason, exit_code, ..
                } => (*exit_code, Some(reason.clone())),
                TaskEvent::Canceled { reason, .. } => (
                    None,
                    Some(reason.clone().unwrap_or_else(|| "canceled".into())),
                ),
                _ => (None, None),
            };
            sqlx::query(
                "UPDATE tasks SET exit_code = COALESCE($1, exit_code), \
                 accepted_at = COALESCE(accepted_at, $2) WHERE id = $3",
            )
            .bind(exit_code)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            set_state(&mut tx, id, next, reason.as_deref(), now).await?;
            if let Some(usage) = event.usage() {
                super::usage::record(
                    &mut tx,
                    id,
                    node_id,
                    usage,
                    super::usage::RunEnd::Ended,
                    now,
                )
                .await?;
            }
        }
        // A report that fulfils the waiting request clears it.
        let fulfilled = match (pending, next) {
            (Some(_), s) if s.is_terminal() => true,
            (Some(CommandKind::Pause), TaskState::Paused) => true,
            (Some(CommandKind::Resume), TaskState::Running) => true,
            _ => false,
        };
        if fulfilled {
            sqlx::query("UPDATE tasks SET pending_command = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            pending = None;
        }
        tx.commit().await?;
        Ok(Some(EventOutcome::Applied(next, pending)))
    }

    /// Records a person's cancel, pause or resume.
    ///
    /// A queued or lost task is canceled at once. For a task a node holds, the
    /// request waits in `pending_command` until the node reports the result.
    /// Asking again for what is already done or waiting is accepted and changes nothing.
    pub async fn request(
        &self,
        id: &str,
        command: CommandKind,
        by: &str,
        now: i64,
    ) -> Result<Option<CommandOutcome>, HubError> {
        use TaskState::*;
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT state, pending_command FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state = parse_state(&row.try_get::<String, _>("state")?)?;
        let pending: Option<String> = row.try_get("pending_command")?;
        let pending = pending.as_deref().and_then(CommandKind::parse);
        let outcome = match (command, state) {
            (CommandKind::Cancel, Canceled) => CommandOutcome::Accepted(state),
            (CommandKind::Cancel, Queued | Lost) => {
                set_state(
                    &mut tx,
                    id,
                    Canceled,
                    Some(&format!("canceled by {by}")),
                    now,
                )
                .await?;
                CommandOutcome::Accepted(Canceled)
            }
            (CommandKind::Cancel, Assigned | Pulling | Running | Paused) => {
                set_pending(&mut tx, id, Some(CommandKind::Cancel), now).await?;
                CommandOutcome::Accepted(state)
            }
            (_, _) if pending == Some(CommandKind::Cancel) => CommandOutcome::Refused(state),
            (CommandKind::Pause, Paused) | (CommandKind::Resume, Running) if pending.is_none() => {
                CommandOutcome::Accepted(state)
            }
            (CommandKind::Pause, Running | Paused) | (CommandKind::Resume, Paused | Running) => {
                set_pending(&mut tx, id, Some(command), now).await?;
                CommandOutcome::Accepted(state)
            }
            _ => CommandOutcome::Refused(state),
        };
        tx.commit().await?;
        Ok(Some(outcome))
    }

    /// Records the results a node reports for its task.
    pub async fn set_outputs(
        &self,
        id: &str,
        node_id: &str,
        files: &[OutputFile],
        now: i64,
    ) -> Result<bool, HubError> {
        let done = sqlx::query(
            "UPDATE tasks SET outputs = $1, updated_at = $2 WHERE id = $3 AND node_id = $4",
        )
        .bind(json(&files))
        .bind(now)
        .bind(id)
        .bind(node_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Writes a new queued task, its first line of history and its labels; returns its id.
async fn insert_task(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    spec: &JobSpec,
    target: Option<&str>,
    submitted_by: &str,
    now: i64,
) -> Result<String, HubError> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO tasks (id, name, state, spec, labels, submitted_by, created_at, updated_at, target_node, gpu_task) \
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $6, $7, $8)",
    )
    .bind(&id)
    .bind(spec.display_name())
    .bind(json(spec))
    .bind(json(&spec.labels))
    .bind(submitted_by)
    .bind(now)
    .bind(target)
    .bind(spec.resources.gpus.is_some() as i64)
    .execute(&mut **tx)
    .await?;
    add_transition(tx, &id, TaskState::Queued, None, now).await?;
    super::task_pages::add_task_labels(tx, &id, &spec.labels, now).await?;
    Ok(id)
}

/// Moves a task to `state` and writes the line of history: the first move to
/// `running` stamps its start, an end stamps its finish and drops any request
/// still waiting for the node.
pub(super) async fn set_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    state: TaskState,
    reason: Option<&str>,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query(
        "UPDATE tasks SET state = $1, reason = COALESCE($2, reason), updated_at = $3, \
         started_at = CASE WHEN $1 = 'running' THEN COALESCE(started_at, $3) ELSE started_at END, \
         finished_at = CASE WHEN $1 IN ('succeeded', 'failed', 'canceled') THEN $3 ELSE finished_at END, \
         pending_command = CASE WHEN $1 IN ('succeeded', 'failed', 'canceled') THEN NULL ELSE pending_command END \
         WHERE id = $4",
    )
    .bind(state.as_str())
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    add_transition(tx, id, state, reason, now).await
}

/// Puts a task back in the queue, held by no node, and writes the line of history.
pub(super) async fn requeue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    now: i64,
    reason: &str,
) -> Result<(), HubError> {
    sqlx::query(
        "UPDATE tasks SET state = 'queued', node_id = NULL, assigned_at = NULL, accepted_at = NULL, \
         pending_command = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    add_transition(tx, id, TaskState::Queued, Some(reason), now).await
}

/// Records (or with `None` clears) the request waiting for the task's node.
async fn set_pending(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    command: Option<CommandKind>,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query("UPDATE tasks SET pending_command = $1, updated_at = $2 WHERE id = $3")
        .bind(command.map(CommandKind::as_str))
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes one line of a task's history.
pub(super) async fn add_transition(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    state: TaskState,
    reason: Option<&str>,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query(
        "INSERT INTO task_transitions (task_id, at, state, reason) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(now)
    .bind(state.as_str())
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A task from a row of [`TASK_COLUMNS`], without its history.
/// The state and waiting request of task `id`, if node `node_id` holds it.
pub(super) async fn held_by(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    node_id: &str,
) -> Result<Option<(TaskState, Option<CommandKind>)>, HubError> {
    let row =
        sqlx::query("SELECT state, pending_command FROM tasks WHERE id = $1 AND node_id = $2")
            .bind(id)
            .bind(node_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let state = parse_state(&row.try_get::<String, _>("state")?)?;
    let pending: Option<String> = row.try_get("pending_command")?;
    Ok(Some((
        state,
        pending.as_deref().and_then(CommandKind::parse),
    )))
}

pub(super) fn task_from_row(row: &AnyRow) -> Result<Task, HubError> {
    let pull_done: Option<i64> = row.try_get("pull_done")?;
    let pull_total: Option<i64> = row.try_get("pull_total")?;
    let state = parse_state(&row.try_get::<String, _>("state")?)?;
    let pending: Option<String> = row.try_get("pending_command")?;
    Ok(Task {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        state,
        spec: parse_json(&row.try_get::<String, _>("spec")?)?,
        node: row.try_get("node_name")?,
        exit_code: row.try_get("exit_code")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        log_size: row.try_get::<i64, _>("log_size")?.max(0) as u64,
        pending_command: pending.as_deref().and_then(CommandKind::parse),
        pull_progress: match (pull_done, pull_total) {
            (Some(done), Some(total)) if state == TaskState::Pulling => Some(PullProgress {
                done: done.max(0) as u64,
                total: total.max(0) as u64,
            }),
            _ => None,
        },
        outputs: parse_json(&row.try_get::<String, _>("outputs")?)?,
        history: Vec::new(),
        checkpoint: row.try_get("checkpoint")?,
        waiting: None,
        gpu_use: row
            .try_get::<Option<String>, _>("gpu_use")?
            .as_deref()
            .map(parse_json)
            .transpose()?,
        // Filled by `task` (show), like the history.
        usage: None,
    })
}

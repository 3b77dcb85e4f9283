//! The calls agents make with their node token: register (with the tasks
//! they still hold), long-poll for work and for requests, send heartbeats,
//! report task events, append log bytes, and report a task's outputs.
//!
//! An agent retries after any network failure, so a repeat must do no harm:
//! a repeated event or log append changes nothing, a log append past the end
//! is a `log_gap` carrying the offset to resend from, and an assignment whose
//! answer was lost goes back to the queue when the agent does not accept it
//! in time ([`crate::HubConfig::accept_within`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gantry_protocol::admin::NodeIdentity;
use gantry_protocol::console_wire::NodeSample;
use gantry_protocol::job::relative_path_problem;
use gantry_protocol::usage::TaskUsage;
use gantry_protocol::wire::{
    Assignment, EventAck, Heartbeat, HeartbeatReply, HeldTask, LogAck, NodeCommand, NodeSettings,
    OutputManifest, RegisterRequest, Registered, Task, TaskEvent, codes,
};
use gantry_protocol::{TaskState, is_sha256_hex};
use serde::Deserialize;

use super::auth::NodeAuth;
use super::extract::{JsonBody, QueryArgs, TaskId, bytes_rejection};
use crate::db::{Append, Beat, Checkpoint, EventOutcome, Mode, Room};
use crate::signals::Fit;
use crate::{ApiError, Hub};

/// The timings and limits an agent follows, sent when it registers.
fn settings(hub: &Hub) -> NodeSettings {
    let config = hub.config();
    NodeSettings {
        heartbeat_secs: config.heartbeat.as_secs().max(1),
        offline_after_secs: config.offline_after.as_secs().max(1),
        max_wait_secs: config.max_wait.as_secs(),
        max_log_append_bytes: config.max_log_append_bytes,
    }
}

pub(super) async fn register(
    State(hub): State<Hub>,
    node: NodeAuth,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<Json<Registered>, ApiError> {
    for label in &request.labels {
        if let Some(problem) = gantry_protocol::job::label_problem(label) {
            return Err(ApiError::bad_request(format!("labels: {problem}")));
        }
    }
    held_ids("inventory", &request.inventory)?;
    if request.version.contains('\0') {
        return Err(ApiError::bad_request(
            "version: has a NUL character; send the agent's version as printable text",
        ));
    }
    image_policy(request.image_policy.as_ref())?;
    let reconciled = hub.db().register(&node.id, &request, hub.now()).await?;
    for task in &reconciled {
        hub.signals().task_changed(&task.id);
    }
    let record = hub
        .db()
        .node_record(&node.id)
        .await?
        .ok_or_else(|| ApiError::not_found("node"))?;
    tracing::info!(node = %node.name, version = %request.version, held = request.inventory.len(), "node registered");
    // Labels may have changed, and a new label can make queued tasks match.
    hub.signals().wake_all_pollers();
    hub.signals().nodes_changed();
    Ok(Json(Registered {
        node_id: record.id,
        node_name: record.name,
        labels: record.labels.into_iter().collect(),
        settings: settings(&hub),
        reconciled,
    }))
}

/// The query of the two long-polls, `next` and `commands`: seconds to wait.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NextArgs {
    wait: Option<u64>,
}

pub(super) async fn next_task(
    State(hub): State<Hub>,
    node: NodeAuth,
    QueryArgs(args): QueryArgs<NextArgs>,
) -> Result<Response, ApiError> {
    let wait = Duration::from_secs(args.wait.unwrap_or(30)).min(hub.config().max_wait);
    let deadline = tokio::time::Instant::now() + wait;
    let record = hub
        .db()
        .node_record(&node.id)
        .await?
        .ok_or_else(|| ApiError::not_found("node"))?;
    // In line before the first look, so a task queued meanwhile rings the bell.
    let place = hub.signals().poll_for_work(Fit::of(&record));
    loop {
        place.bell.answer();
        if let Some(task) = hub.db().claim_next(&record, hub.now()).await? {
            hub.signals().task_changed(&task.id);
            // From the last time it entered the queue: a released task waits anew.
            let queued_at = task
                .history
                .iter()
                .rev()
                .find(|t| t.state == gantry_protocol::TaskState::Queued)
                .map_or(task.created_at, |t| t.at);
            hub.metrics().dispatched(hub.now() - queued_at);
            tracing::info!(task = %task.id, node = %node.name, "task assigned");
            return Ok(Json(Assignment { task }).into_response());
        }
        tokio::select! {
            _ = place.bell.rung() => {}
            _ = tokio::time::sleep_until(deadline) => break,
            _ = hub.stopping().cancelled() => break,
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn wait_commands(
    State(hub): State<Hub>,
    node: NodeAuth,
    QueryArgs(args): QueryArgs<NextArgs>,
) -> Result<Json<HeartbeatReply>, ApiError> {
    let wait = Duration::from_secs(args.wait.unwrap_or(30)).min(hub.config().max_wait);
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = hub.signals().watch_commands();
    loop {
        changes.borrow_and_update();
        let commands = hub.db().pending_commands(&node.id).await?;
        if !commands.is_empty() {
            return Ok(Json(HeartbeatReply {
                commands: commands
                    .into_iter()
                    .map(|(task_id, command)| NodeCommand { task_id, command })
                    .collect(),
                node: None,
            }));
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep_until(deadline) => break,
            _ = hub.stopping().cancelled() => break,
        }
    }
    Ok(Json(HeartbeatReply::default()))
}

/// Refuses a list of held tasks with an id that cannot be one
/// ([`gantry_protocol::rules::TASK_ID`]), before it reaches the database.
fn held_ids(key: &str, tasks: &[HeldTask]) -> Result<(), ApiError> {
    for (i, task) in tasks.iter().enumerate() {
        if !gantry_protocol::rules::is_task_id(&task.id) {
            return Err(ApiError::bad_request(format!(
                "{key}[{i}].id: {:?} is not a task id (1 to 128 characters, no control characters)",
                task.id
            )));
        }
    }
    Ok(())
}

/// Refuses GPU use figures keyed by something that is not a task id, or
/// that no node could have measured, before they reach the database.
fn gpu_use_figures(
    reports: &std::collections::BTreeMap<String, gantry_protocol::wire::TaskGpuUse>,
) -> Result<(), ApiError> {
    for (id, used) in reports {
        if !gantry_protocol::rules::is_task_id(id) {
            return Err(ApiError::bad_request(format!(
                "gpu_use: {id:?} is not a task id (1 to 128 characters, no control characters)"
            )));
        }
        if let Some(problem) = used.problem() {
            return Err(ApiError::bad_request(format!("gpu_use[{id:?}]: {problem}")));
        }
    }
    Ok(())
}

pub(super) async fn heartbeat(
    State(hub): State<Hub>,
    node: NodeAuth,
    JsonBody(beat): JsonBody<Heartbeat>,
) -> Result<Json<HeartbeatReply>, ApiError> {
    held_ids("tasks", &beat.tasks)?;
    gpu_use_figures(&beat.gpu_use)?;
    image_policy(beat.image_policy.as_ref())?;
    let now = hub.now();
    let mode = Mode {
        accepting: beat.accepting,
        draining: beat.draining,
    };
    let room = Room {
        capacity: beat.capacity.clone(),
        yielding: beat.yielding.clone(),
    };
    let Beat {
        commands,
        listed_changed,
        room_changed,
    } = hub
        .db()
        .heartbeat(&node.id, &beat, mode, &room, now)
        .await?;
    if let Some(system) = &beat.system {
        let sample = Arc::new(NodeSample::of(system, now));
        hub.samples().record(&node.id, sample.clone());
        hub.signals().node_sampled(&node.id, sample);
    }
    if listed_changed || room_changed {
        hub.signals().nodes_changed();
    }
    // A task's final GPU figures are news for its page; the running ones,
    // every few seconds, are not (the console's task page reads them again
    // on its own while the task runs).
    for (id, used) in &beat.gpu_use {
        if used.ended {
            hub.signals().task_changed(id);
        }
    }
    // The node's name and labels now, so a change at the hub reaches the agent without a restart.
    let record = hub.db().node_record(&node.id).await?;
    if room_changed && let Some(record) = &record {
        // What it may take changed: its waiting `next` looks again with the new fit.
        hub.signals().refit(Fit::of(record));
    }
    let identity = record.map(|record| NodeIdentity {
        name: record.name,
        labels: record.labels.into_iter().collect(),
    });
    Ok(Json(HeartbeatReply {
        commands: commands
            .into_iter()
            .map(|(task_id, command)| NodeCommand { task_id, command })
            .collect(),
        node: identity,
    }))
}

pub(super) async fn task_event(
    State(hub): State<Hub>,
    node: NodeAuth,
    TaskId(id): TaskId,
    JsonBody(event): JsonBody<TaskEvent>,
) -> Result<Json<EventAck>, ApiError> {
    if let Some(problem) = event.usage().and_then(|usage| usage.problem()) {
        return Err(ApiError::bad_request(problem));
    }
    let outcome = match &event {
        TaskEvent::Released {
            reason,
            checkpoint,
            usage,
        } => {
            release(
                &hub,
                &node,
                &id,
                reason,
                checkpoint.as_deref(),
                usage.as_ref(),
            )
            .await?
        }
        _ => {
            hub.db()
                .apply_event(&id, &node.id, &event, hub.now())
                .await?
        }
    };
    match outcome {
        None => Err(ApiError::not_found("task")),
        Some(EventOutcome::Refused(state)) => {
            let wanted = event.target_state().map_or("accepted", TaskState::as_str);
            Err(ApiError::conflict(format!(
                "the task is {state} on the hub and cannot become {wanted}"
            )))
        }
        Some(EventOutcome::Applied(state, command)) => {
            hub.signals().task_changed(&id);
            Ok(Json(EventAck { state, command }))
        }
    }
}

/// Takes back a task the node released: 404 unless the node holds it, its
/// checkpoint checked like a folder input (422 naming what the hub lacks),
/// then back to the queue, and the pollers that may run it are rung.
async fn release(
    hub: &Hub,
    node: &NodeAuth,
    id: &str,
    reason: &str,
    checkpoint: Option<&str>,
    usage: Option<&TaskUsage>,
) -> Result<Option<EventOutcome>, ApiError> {
    if hub.db().task_visible(id, Some(&node.id)).await?.is_none() {
        return Err(ApiError::not_found("task"));
    }
    if reason.trim().is_empty() || reason.contains('\0') {
        return Err(ApiError::bad_request(
            "reason: say in words why the node gave the task back (no NUL characters)",
        ));
    }
    let checkpoint = match checkpoint {
        Some(tree) => Some(Checkpoint {
            tree: tree.to_owned(),
            blobs: super::inputs::checkpoint_blobs(hub, tree).await?,
        }),
        None => None,
    };
    let outcome = hub
        .db()
        .release(id, &node.id, reason, checkpoint.as_ref(), usage, hub.now())
        .await?;
    if let Some(EventOutcome::Applied(TaskState::Queued, _)) = outcome
        && let Some(task) = hub.db().task(id, None).await?
    {
        let spec = &task.spec;
        let target = hub.db().task_target(id).await?;
        hub.signals().task_queued(
            &spec.labels,
            target.as_deref(),
            spec.resources.gpus.is_some(),
        );
        tracing::info!(task = %id, node = %node.name, reason, "task released to the queue");
    }
    Ok(outcome)
}

/// The query of `POST /v1/tasks/{id}/log`: where the body's bytes start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AppendArgs {
    offset: u64,
}

pub(super) async fn append_log(
    State(hub): State<Hub>,
    node: NodeAuth,
    TaskId(id): TaskId,
    QueryArgs(args): QueryArgs<AppendArgs>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LogAck>, ApiError> {
    let body = body.map_err(bytes_rejection)?;
    if hub.db().task_visible(&id, Some(&node.id)).await?.is_none() {
        return Err(ApiError::not_found("task"));
    }
    match hub
        .db()
        .append_log(&id, args.offset, &body, hub.now())
        .await?
    {
        Append::Stored(committed) => {
            hub.metrics().log_received(body.len() as u64);
            hub.signals().log_grew(&id);
            Ok(Json(LogAck { committed }))
        }
        Append::Gap(committed) => {
            let mut error = ApiError::new(
                StatusCode::CONFLICT,
                codes::LOG_GAP,
                format!(
                    "the hub holds {committed} bytes of this log; send from offset {committed}"
                ),
            );
            error.body.committed = Some(committed);
            Err(error)
        }
    }
}

pub(super) async fn put_outputs(
    State(hub): State<Hub>,
    node: NodeAuth,
    TaskId(id): TaskId,
    JsonBody(manifest): JsonBody<OutputManifest>,
) -> Result<Json<Task>, ApiError> {
    for (i, file) in manifest.files.iter().enumerate() {
        if let Some(problem) = relative_path_problem(&file.path) {
            return Err(ApiError::bad_request(format!("files[{i}].path: {problem}")));
        }
        if !is_sha256_hex(&file.sha256) {
            return Err(ApiError::bad_request(format!(
                "files[{i}].sha256: not 64 lowercase hex digits"
            )));
        }
    }
    if !hub
        .db()
        .set_outputs(&id, &node.id, &manifest.files, hub.now())
        .await?
    {
        return Err(ApiError::not_found("task"));
    }
    hub.signals().task_changed(&id);
    let task = hub
        .db()
        .task(&id, Some(&node.id))
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    Ok(Json(task))
}

/// Refuses an image policy its document calls invalid (too many or too long
/// patterns, or not printable ASCII): a node's dispatch reads it for every
/// task. A pattern that passes but cannot be read matches nothing.
fn image_policy(
    policy: Option<&gantry_protocol::image_policy::ImagePolicy>,
) -> Result<(), ApiError> {
    match policy.and_then(|p| p.wire_problem()) {
        Some(problem) => Err(ApiError::bad_request(format!("image_policy: {problem}"))),
        None => Ok(()),
    }
}

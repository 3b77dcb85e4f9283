//! The calls people (and their scripts) make: submit a job, list and show
//! tasks, read or follow a log, cancel, pause or resume a task, list nodes;
//! and the two public calls, health and this API's OpenAPI document.
//!
//! Each handler checks its input, asks [`crate::db`] and, when something
//! changed, rings the matching signal so waiting long-polls and log followers
//! wake. Steering a task only records a request here; the node carries it out
//! and reports back through the agents' calls ([`super::agents`]).

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_protocol::console_wire::TaskCursor;
use gantry_protocol::job::{Format, JobError, label_problem};
use gantry_protocol::wire::{CommandKind, NodeList, Submitted, Task, TaskList, codes};
use gantry_protocol::{JobSpec, TaskState};
use serde::Deserialize;

use super::auth::{Admin, Authed};
use super::extract::{QueryArgs, TaskId, bytes_rejection};
use crate::db::{CommandOutcome, TaskFilter};
use crate::{ApiError, Hub};

/// `GET /v1/health`. Its `Date` header is the hub's own clock (the one it
/// stamps tasks with), not the server library's: `gantry doctor` compares it
/// with the node's clock, and a test can set it.
pub(super) async fn health(State(hub): State<Hub>) -> impl IntoResponse {
    let database = match hub.db().backend() {
        crate::db::Backend::Sqlite => "sqlite",
        crate::db::Backend::Postgres => "postgres",
    };
    let now =
        std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(hub.now()).unwrap_or_default());
    let date = HeaderValue::from_str(&httpdate::fmt_http_date(now))
        .expect("an HTTP date is a header value");
    (
        [(header::DATE, date)],
        Json(
            serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "database": database}),
        ),
    )
}

pub(super) async fn openapi(State(hub): State<Hub>) -> Json<serde_json::Value> {
    Json(hub.openapi_document())
}

// ---- tasks and nodes ----

pub(super) async fn submit(
    State(hub): State<Hub>,
    Admin(by): Admin,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(bytes_rejection)?;
    let text = job_text(&body)?;
    let spec = JobSpec::parse(text, job_format(&headers)).map_err(invalid_job)?;
    // Refuse a job whose blobs are missing now, rather than fail it on a node later.
    let blobs = super::inputs::referenced_blobs(&hub, &spec).await?;
    let target = match &spec.node {
        Some(name) => Some(target_node(&hub, name).await?),
        None => None,
    };
    let id = hub
        .db()
        .submit(&spec, target.as_deref(), &by, &blobs, hub.now())
        .await?;
    hub.signals().task_queued(
        &spec.labels,
        target.as_deref(),
        spec.resources.gpus.is_some(),
    );
    hub.signals().task_changed(&id);
    tracing::info!(task = %id, by = %by, "task submitted");
    Ok((StatusCode::CREATED, Json(Submitted { id })).into_response())
}

/// The format a job body's content type names: YAML when it says so, else JSON.
pub(super) fn job_format(headers: &HeaderMap) -> Format {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.contains("yaml") {
        Format::Yaml
    } else {
        Format::Json
    }
}

/// A job body as text, or the refusal of one that is not UTF-8.
pub(super) fn job_text(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the job is not UTF-8 text"))
}

/// The id of the node a job's `node:` names, or a refusal that lists the
/// names the hub knows.
async fn target_node(hub: &Hub, name: &str) -> Result<String, ApiError> {
    match node_named(hub, name).await? {
        Ok(id) => Ok(id),
        // 422: the name is well formed (the document states that); no schema
        // can say which nodes exist.
        Err(sentence) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::UNKNOWN_NODE,
            format!("node: {sentence}"),
        )),
    }
}

/// The id of the node named `name` (or with that id), or the sentence that
/// says the hub has none and lists the names it knows.
pub(super) async fn node_named(hub: &Hub, name: &str) -> Result<Result<String, String>, ApiError> {
    if let Some(id) = hub.db().find_node(name).await? {
        return Ok(Ok(id));
    }
    let known = hub.db().node_names().await?;
    Ok(Err(if known.is_empty() {
        format!(
            "the hub has no node named \"{name}\"; it has no nodes yet (gantry hub node add NAME)"
        )
    } else {
        format!(
            "the hub has no node named \"{name}\"; its nodes are: {}",
            known.join(", ")
        )
    }))
}

/// 400 for a job that breaks a rule the OpenAPI document states, 422 for
/// one that breaks only a rule no schema can state (a path given twice).
fn invalid_job(error: JobError) -> ApiError {
    let status = if error.breaks_schema() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    ApiError::new(
        status,
        codes::INVALID_JOB,
        format!("the job was refused: {error}"),
    )
}

/// The query of `GET /v1/tasks`; see [`super::LIST_TASKS_PARAMS`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListArgs {
    state: Option<String>,
    node: Option<String>,
    label: Option<String>,
    name: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn list_tasks(
    State(hub): State<Hub>,
    _: Admin,
    QueryArgs(args): QueryArgs<ListArgs>,
) -> Result<Json<TaskList>, ApiError> {
    let state = args
        .state
        .map(|s| s.parse::<TaskState>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = args.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is out of range; ask for 1 to 1000 tasks"
        )));
    }
    if let Some(problem) = args.label.as_deref().and_then(label_problem) {
        return Err(ApiError::bad_request(format!("label: {problem}")));
    }
    let before = args
        .before
        .as_deref()
        .map(TaskCursor::parse)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let filter = TaskFilter {
        state,
        node: args.node,
        label: args.label,
        name: args.name,
        before,
        limit,
    };
    let page = hub.db().tasks(&filter).await?;
    Ok(Json(TaskList {
        tasks: page.tasks,
        next: page.next.map(|cursor| cursor.to_string()),
    }))
}

pub(super) async fn show_task(
    State(hub): State<Hub>,
    auth: Authed,
    TaskId(id): TaskId,
) -> Result<Json<Task>, ApiError> {
    let scope = auth.node_scope();
    let mut task = match hub.db().task(&id, scope).await? {
        Some(task) => Some(task),
        // A node reads the tasks it holds, and those it gave back
        // (`Db::gave_back`): whether they ended yet.
        None => match scope {
            Some(node) if hub.db().gave_back(&id, node).await? => hub.db().task(&id, None).await?,
            _ => None,
        },
    }
    .ok_or_else(|| ApiError::not_found("task"))?;
    // People are told why a task waits; nodes are not.
    if task.state == TaskState::Queued && auth.node_scope().is_none() {
        let offline_after = hub.config().offline_after.as_millis() as i64;
        let nodes = hub.db().nodes(hub.now(), offline_after).await?;
        task.waiting = crate::waiting::why_queued(&task, &nodes);
    }
    Ok(Json(task))
}

/// The query of `GET /v1/tasks/{id}/log`; see [`super::READ_LOG_PARAMS`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogArgs {
    offset: Option<u64>,
    length: Option<u64>,
    follow: Option<bool>,
}

/// How many log bytes one read from the database brings.
const LOG_PAGE: u64 = 1 << 20;

pub(super) async fn read_log(
    State(hub): State<Hub>,
    auth: Authed,
    TaskId(id): TaskId,
    QueryArgs(args): QueryArgs<LogArgs>,
) -> Result<Response, ApiError> {
    let Some(_) = hub.db().task_visible(&id, auth.node_scope()).await? else {
        return Err(ApiError::not_found("task"));
    };
    let (_, size) = hub.db().read_log(&id, 0, 0).await?;
    let follow = args.follow.unwrap_or(false);
    let start = args.offset.unwrap_or(0);
    let end = args.length.map(|length| start.saturating_add(length));
    // The stream reads a page at a time, so a large log never sits in memory
    // whole; when following, it waits for the task's signal between pages.
    let stream = futures::stream::unfold((hub, id, start), move |(hub, id, offset)| async move {
        loop {
            if end.is_some_and(|end| offset >= end) {
                return None;
            }
            let mut watch = follow.then(|| hub.signals().watch_task(&id));
            let want = end.map_or(LOG_PAGE, |end| (end - offset).min(LOG_PAGE));
            let (bytes, size) = match hub.db().read_log(&id, offset, want).await {
                Ok(read) => read,
                Err(error) => {
                    tracing::warn!(%error, task = %id, "reading a log failed");
                    return None;
                }
            };
            if !bytes.is_empty() {
                let next = offset + bytes.len() as u64;
                return Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), (hub, id, next)));
            }
            let watch = watch.as_mut()?;
            // Caught up: the stream ends with the task, else waits for more.
            let finished = match hub.db().task_visible(&id, None).await {
                Ok(Some(state)) => state.is_terminal(),
                _ => true,
            };
            if finished && offset >= size {
                // A last read: bytes may have landed between the read and the check.
                if let Ok((bytes, _)) = hub.db().read_log(&id, offset, want).await
                    && !bytes.is_empty()
                {
                    let next = offset + bytes.len() as u64;
                    return Some((Ok(Bytes::from(bytes)), (hub, id, next)));
                }
                return None;
            }
            tokio::select! {
                _ = watch.receiver.changed() => {}
                // A periodic look covers changes made by another hub on the same database.
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = hub.stopping().cancelled() => return None,
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert("x-gantry-log-size", HeaderValue::from(size));
    Ok(response)
}

pub(super) async fn cancel(
    State(hub): State<Hub>,
    Admin(by): Admin,
    TaskId(id): TaskId,
) -> Result<Json<Task>, ApiError> {
    steer(hub, &by, &id, CommandKind::Cancel).await
}

pub(super) async fn pause(
    State(hub): State<Hub>,
    Admin(by): Admin,
    TaskId(id): TaskId,
) -> Result<Json<Task>, ApiError> {
    steer(hub, &by, &id, CommandKind::Pause).await
}

pub(super) async fn resume(
    State(hub): State<Hub>,
    Admin(by): Admin,
    TaskId(id): TaskId,
) -> Result<Json<Task>, ApiError> {
    steer(hub, &by, &id, CommandKind::Resume).await
}

async fn steer(hub: Hub, by: &str, id: &str, command: CommandKind) -> Result<Json<Task>, ApiError> {
    match hub.db().request(id, command, by, hub.now()).await? {
        None => Err(ApiError::not_found("task")),
        Some(CommandOutcome::Refused(state)) => Err(ApiError::conflict(match command {
            CommandKind::Cancel => format!("the task already {state}; there is nothing to cancel"),
            CommandKind::Pause => format!("the task is {state}; only a running task can be paused"),
            CommandKind::Resume => {
                format!("the task is {state}; only a paused task can be resumed")
            }
        })),
        Some(CommandOutcome::Accepted(_)) => {
            hub.signals().task_changed(id);
            hub.signals().commands_changed();
            tracing::info!(task = %id, by = %by, command = command.as_str(), "request recorded");
            let task = hub
                .db()
                .task(id, None)
                .await?
                .ok_or_else(|| ApiError::not_found("task"))?;
            Ok(Json(task))
        }
    }
}

pub(super) async fn list_nodes(
    State(hub): State<Hub>,
    _: Admin,
) -> Result<Json<NodeList>, ApiError> {
    let offline_after = hub.config().offline_after.as_millis() as i64;
    Ok(Json(NodeList {
        nodes: hub.db().nodes(hub.now(), offline_after).await?,
    }))
}

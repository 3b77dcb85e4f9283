//! A task's outputs: the list with where each is kept, and the download of
//! one, from the hub's blobs or, for outputs kept on a node, relayed from
//! that node on demand (see [`crate::relay`]). An admin may read any task's
//! outputs; a node only those of tasks it ran.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_protocol::clock_text::{UtcTime, ago};
use gantry_protocol::wire::{ListedOutput, OutputFile, OutputList, OutputStore, codes};
use tokio_stream::wrappers::ReceiverStream;

use super::auth::Authed;
use super::extract::TaskId;
use crate::db::TaskNode;
use crate::relay::Answer;
use crate::{ApiError, Hub};

/// The `{id}` and `{*path}` of a download.
pub(super) struct OutputPath {
    id: String,
    path: String,
}

impl FromRequestParts<Hub> for OutputPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        let Path((id, path)) = Path::<(String, String)>::from_request_parts(parts, hub)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(ApiError::not_found("task"));
        }
        Ok(OutputPath { id, path })
    }
}

/// The task's outputs and its node, if the caller may see the task.
async fn outputs_of(
    hub: &Hub,
    caller: &Authed,
    id: &str,
) -> Result<(Vec<OutputFile>, Option<TaskNode>), ApiError> {
    let task = hub
        .db()
        .task(id, caller.node_scope())
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    let node = hub
        .db()
        .task_node(id, hub.now(), hub.config().offline_after.as_millis() as i64)
        .await?;
    Ok((task.outputs, node))
}

pub(super) async fn list_outputs(
    State(hub): State<Hub>,
    caller: Authed,
    TaskId(id): TaskId,
) -> Result<Json<OutputList>, ApiError> {
    let (files, node) = outputs_of(&hub, &caller, &id).await?;
    let mut outputs: Vec<ListedOutput> = files
        .into_iter()
        .map(|file| {
            let on_node = (file.stored == OutputStore::Node)
                .then_some(node.as_ref())
                .flatten();
            ListedOutput {
                path: file.path,
                size: file.size,
                sha256: file.sha256,
                stored: file.stored,
                node: on_node.map(|n| n.name.clone()),
                node_online: on_node.map(|n| n.online),
                node_last_seen: on_node.and_then(|n| n.last_seen),
            }
        })
        .collect();
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Json(OutputList { task: id, outputs }))
}

pub(super) async fn download_output(
    State(hub): State<Hub>,
    caller: Authed,
    OutputPath { id, path }: OutputPath,
) -> Result<Response, ApiError> {
    let (files, node) = outputs_of(&hub, &caller, &id).await?;
    let file = files.into_iter().find(|f| f.path == path).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("task {id} has no output {path}; list them with GET /v1/tasks/{id}/outputs"),
        )
    })?;
    let headers = |size: u64, sha256: &str| {
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
            (
                header::HeaderName::from_static("x-gantry-sha256"),
                HeaderValue::from_str(sha256).unwrap_or(HeaderValue::from_static("")),
            ),
        ]
    };
    match file.stored {
        OutputStore::Hub => {
            let handle = tokio::fs::File::open(hub.blobs().path(&file.sha256))
                .await
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        codes::NOT_FOUND,
                        format!("output {path} was reported uploaded, but its blob {} is not on the hub", file.sha256),
                    )
                })?;
            let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                handle,
                crate::blobs::SEND_CHUNK,
            ));
            Ok((headers(file.size, &file.sha256), body).into_response())
        }
        OutputStore::Node => {
            let node = node.ok_or_else(|| ApiError::not_found("task"))?;
            let rx = relayed(&hub, &node, &id, &file).await?;
            let body = Body::from_stream(ReceiverStream::new(rx));
            Ok((headers(file.size, &file.sha256), body).into_response())
        }
    }
}

/// Asks the node for a kept output and waits for it to begin sending.
async fn relayed(
    hub: &Hub,
    node: &TaskNode,
    id: &str,
    file: &OutputFile,
) -> Result<tokio::sync::mpsc::Receiver<crate::relay::Chunk>, ApiError> {
    if !node.online {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::NODE_OFFLINE,
            format!(
                "output {} is kept on node {}, which is offline ({}); download it when the node is back, or run the task again",
                file.path,
                node.name,
                match node.last_seen {
                    Some(seen) => format!("last seen {}", since(seen, hub.now())),
                    None => "never seen".into(),
                }
            ),
        ));
    }
    let mut asked = hub.relay().ask(&node.id, id, &file.path, &file.sha256);
    let within = hub.config().fetch_begin_within;
    let answer = tokio::select! {
        answer = &mut asked.answer => answer.ok(),
        _ = tokio::time::sleep(within) => None,
        _ = hub.stopping().cancelled() => None,
    };
    match answer {
        Some(Answer::Bytes(rx)) => Ok(rx),
        Some(Answer::Failed(reason)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            codes::FETCH_FAILED,
            format!(
                "node {} cannot send output {}: {reason}",
                node.name, file.path
            ),
        )),
        None => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            codes::FETCH_FAILED,
            format!(
                "node {} did not begin sending output {} within {} s; its agent may be busy or too old to serve kept outputs, try again",
                node.name,
                file.path,
                within.as_secs()
            ),
        )),
    }
}

/// `2026-12-06 14:03:22 UTC, 12 min ago`.
fn since(at_ms: i64, now_ms: i64) -> String {
    format!(
        "{}, {}",
        UtcTime::from_millis(at_ms).to_second(),
        ago(at_ms, now_ms)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn since_reads_as_a_date() {
        assert_eq!(
            super::since(1_700_000_000_000, 1_700_000_090_000),
            "2023-11-14 22:13:20 UTC, 90 s ago"
        );
    }
}

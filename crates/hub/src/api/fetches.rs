//! The node's side of the relay: its long-poll for fetch requests, and its
//! answers (the file's bytes, or why it cannot send them). The bytes are
//! piped into the waiting download as they arrive; see [`crate::relay`].

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use futures::StreamExt;
use gantry_protocol::wire::{FetchFailure, FetchList, codes};

use super::auth::NodeAuth;
use super::extract::{JsonBody, PathArg, QueryArgs};
use crate::relay::Refused;
use crate::{ApiError, Hub};

/// The query of `GET /v1/agent/fetches`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitArgs {
    wait: Option<u64>,
}

pub(super) async fn wait_fetches(
    State(hub): State<Hub>,
    node: NodeAuth,
    QueryArgs(args): QueryArgs<WaitArgs>,
) -> Result<Json<FetchList>, ApiError> {
    let wait = Duration::from_secs(args.wait.unwrap_or(30)).min(hub.config().max_wait);
    let deadline = tokio::time::Instant::now() + wait;
    let mut filed = hub.relay().watch();
    loop {
        filed.borrow_and_update();
        let fetches = hub.relay().take_for(&node.id);
        if !fetches.is_empty() {
            return Ok(Json(FetchList { fetches }));
        }
        tokio::select! {
            _ = filed.changed() => {}
            _ = tokio::time::sleep_until(deadline) => break,
            _ = hub.stopping().cancelled() => break,
        }
    }
    Ok(Json(FetchList {
        fetches: Vec::new(),
    }))
}

fn refused(refusal: Refused) -> ApiError {
    match refusal {
        Refused::Unknown => ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "no fetch request with this id waits for this node; the download may have gone away",
        ),
        Refused::Gone => ApiError::new(
            StatusCode::GONE,
            codes::FETCH_FAILED,
            "the download that asked for this file went away; stop sending",
        ),
    }
}

pub(super) async fn put_fetch(
    State(hub): State<Hub>,
    node: NodeAuth,
    PathArg(id): PathArg,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let tx = hub.relay().begin(&node.id, &id).map_err(refused)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => Ok(chunk),
            Err(error) => Err(std::io::Error::other(format!(
                "node {} stopped sending: {error}",
                node.name
            ))),
        };
        let broke = chunk.is_err();
        if tx.send(chunk).await.is_err() {
            // Answering now drops the rest of the body, which ends the node's upload.
            return Err(refused(Refused::Gone));
        }
        if broke {
            return Err(ApiError::bad_request("the upload broke off"));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn fail_fetch(
    State(hub): State<Hub>,
    node: NodeAuth,
    PathArg(id): PathArg,
    JsonBody(failure): JsonBody<FetchFailure>,
) -> Result<StatusCode, ApiError> {
    hub.relay()
        .fail(&node.id, &id, failure.reason)
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

//! `GET /v1/tasks/{id}/log/times`: when the hub received each part of a
//! task's log, for a viewer's per-line times.
//!
//! Its own rows of the route table ([`log_time_endpoints`]): the log stays
//! a plain byte stream, and its times are read beside it, by the same
//! callers (an admin, or the node that runs the task).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::on;
use gantry_protocol::log_times::LogTimes;
use serde::Deserialize;

use super::auth::Authed;
use super::extract::{QueryArgs, TaskId};
use super::{Access, BodyDoc, Endpoint, ParamDoc, TASK_ID, ep, method, schema};
use crate::{ApiError, Hub};

/// The parameters of `GET /v1/tasks/{id}/log/times`.
const LOG_TIMES_PARAMS: &[ParamDoc] = &[
    TASK_ID,
    ParamDoc {
        name: "offset",
        location: "query",
        required: false,
        kind: "offset",
        description: "The first byte whose time is wanted (default 0); the first mark is that of the append holding it",
    },
    ParamDoc {
        name: "length",
        location: "query",
        required: false,
        kind: "offset",
        description: "Only the marks of this many bytes from offset (default: to the end)",
    },
];

/// The rows of the route table for log times.
pub(super) fn log_time_endpoints() -> Vec<Endpoint> {
    vec![ep(
        Method::GET,
        "/v1/tasks/{id}/log/times",
        "When each append of a task's log reached the hub: its first byte offset and time, in order (at most 100,000, then `next`)",
        Access::AdminOrNode,
        LOG_TIMES_PARAMS,
        BodyDoc::None,
        (200, BodyDoc::Json(schema::<LogTimes>)),
        on(method(Method::GET), log_times),
    )]
}

/// The query of `GET /v1/tasks/{id}/log/times`; see [`LOG_TIMES_PARAMS`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogTimesArgs {
    offset: Option<u64>,
    length: Option<u64>,
}

async fn log_times(
    State(hub): State<Hub>,
    auth: Authed,
    TaskId(id): TaskId,
    QueryArgs(args): QueryArgs<LogTimesArgs>,
) -> Result<Json<LogTimes>, ApiError> {
    if hub
        .db()
        .task_visible(&id, auth.node_scope())
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("task"));
    }
    let times = hub
        .db()
        .log_times(&id, args.offset.unwrap_or(0), args.length)
        .await?;
    Ok(Json(times))
}

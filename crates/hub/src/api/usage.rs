//! Usage accounting for admins: `GET /v1/nodes/{node}/usage?since=…`, what
//! the tasks that ended on a node used, in all and by day (UTC). The figures
//! come from the nodes' final reports ([`gantry_protocol::usage::TaskUsage`]).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::on;
use gantry_protocol::usage::{NodeUsage, parse_since};
use serde::Deserialize;

use super::auth::Admin;
use super::extract::{PathArg, QueryArgs};
use super::{Access, BodyDoc, Endpoint, ParamDoc, ep, method, schema};
use crate::{ApiError, Hub};

/// How far back a call without `since` looks.
const DEFAULT_SPAN_MS: i64 = 7 * 86_400_000;

/// The query of the usage call.
#[derive(Debug, Deserialize)]
struct UsageArgs {
    since: Option<String>,
}

async fn node_usage(
    State(hub): State<Hub>,
    _: Admin,
    PathArg(key): PathArg,
    QueryArgs(args): QueryArgs<UsageArgs>,
) -> Result<Json<NodeUsage>, ApiError> {
    let since = match args.since.as_deref() {
        Some(text) => {
            parse_since(text).map_err(|why| ApiError::bad_request(format!("since: {why}")))?
        }
        None => hub.now() - DEFAULT_SPAN_MS,
    };
    let id = super::admin::node_id(&hub, &key).await?;
    Ok(Json(hub.db().node_usage(&id, since).await?))
}

const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        name: "node",
        location: "path",
        required: true,
        kind: "string",
        description: "The node's name or id",
    },
    ParamDoc {
        name: "since",
        location: "query",
        required: false,
        kind: "since",
        description: "Count tasks that ended at or after this RFC 3339 time or date \
                      (2026-12-01 is midnight UTC); default the last 7 days",
    },
];

/// The routes of this file, for [`super::endpoints`].
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![ep(
        Method::GET,
        "/v1/nodes/{node}/usage",
        "What the tasks that ended on a node used (wall, CPU and GPU time, GPU energy, bytes), in all and by day",
        Access::Admin,
        PARAMS,
        BodyDoc::None,
        (200, BodyDoc::Json(schema::<NodeUsage>)),
        on(method(Method::GET), node_usage),
    )]
}

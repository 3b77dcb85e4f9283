//! Usage accounting: `GET /v1/nodes/{node}/usage?since=…` for admins, what
//! the tasks that ended on a node used, in all and by day (UTC), and `GET
//! /v1/agent/usage?since=…`, the same of its own for a node (the desktop's
//! "This week" card, whose agent has a node token). The figures come from the
//! nodes' final reports ([`gantry_protocol::usage::TaskUsage`]).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::on;
use gantry_protocol::usage::{NodeUsage, parse_since};
use serde::Deserialize;

use super::auth::{Admin, NodeAuth};
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

/// The start of the span a call asks for.
fn since_of(hub: &Hub, args: &UsageArgs) -> Result<i64, ApiError> {
    match args.since.as_deref() {
        Some(text) => {
            parse_since(text).map_err(|why| ApiError::bad_request(format!("since: {why}")))
        }
        None => Ok(hub.now() - DEFAULT_SPAN_MS),
    }
}

async fn own_usage(
    State(hub): State<Hub>,
    node: NodeAuth,
    QueryArgs(args): QueryArgs<UsageArgs>,
) -> Result<Json<NodeUsage>, ApiError> {
    let since = since_of(&hub, &args)?;
    Ok(Json(hub.db().node_usage(&node.id, since).await?))
}

async fn node_usage(
    State(hub): State<Hub>,
    _: Admin,
    PathArg(key): PathArg,
    QueryArgs(args): QueryArgs<UsageArgs>,
) -> Result<Json<NodeUsage>, ApiError> {
    let since = since_of(&hub, &args)?;
    let id = super::admin::node_id(&hub, &key).await?;
    Ok(Json(hub.db().node_usage(&id, since).await?))
}

const SINCE: ParamDoc = ParamDoc {
    name: "since",
    location: "query",
    required: false,
    kind: "since",
    description: "Count tasks that ended at or after this RFC 3339 time or date \
                  (2026-12-01 is midnight UTC); default the last 7 days",
};

const PARAMS: &[ParamDoc] = &[
    ParamDoc {
        name: "node",
        location: "path",
        required: true,
        kind: "string",
        description: "The node's name or id",
    },
    SINCE,
];

/// The routes of this file, for [`super::endpoints`].
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        ep(
            Method::GET,
            "/v1/nodes/{node}/usage",
            "What the tasks that ended on a node used (wall, CPU and GPU time, GPU energy, bytes), in all and by day",
            Access::Admin,
            PARAMS,
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<NodeUsage>)),
            on(method(Method::GET), node_usage),
        ),
        ep(
            Method::GET,
            "/v1/agent/usage",
            "The calling node's own usage, as GET /v1/nodes/{node}/usage answers it",
            Access::Node,
            &[SINCE],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<NodeUsage>)),
            on(method(Method::GET), own_usage),
        ),
    ]
}

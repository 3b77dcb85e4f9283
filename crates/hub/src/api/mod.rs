//! The HTTP API: one table of endpoints and the router built from it.
//!
//! The handlers live by who calls them: `people.rs` (submit, list, show, read
//! logs, steer tasks; health and the document), `admin.rs` (nodes and admin
//! tokens administered: its rows of the table too), `agents.rs` (register, poll,
//! heartbeat, report events, logs and outputs) and `blobs.rs`; the web
//! console's are `session.rs` (sign in and out), `admin_tokens.rs` (make an
//! admin token) and `console.rs` (its page and assets, in the binary).
//! `auth.rs` says who is calling (a bearer token, or the console's session
//! cookie), and `extract.rs` turns every bad body, query or path into a
//! JSON error with a code and a sentence. This file holds the table, the
//! router, and what the router adds to every route.
//!
//! Architecture invariant: [`endpoints`] is the only list of routes. The
//! router and the OpenAPI document are both built from it, so a route cannot
//! exist undocumented.
//!
//! Architecture invariant: nothing under `api/` imports [`crate::openapi`].
//! The document is built from this table by the crate root (`Hub` keeps it),
//! so the dependency runs one way: `openapi` reads `api`, never the reverse.

mod admin;
mod admin_tokens;
mod agents;
mod auth;
mod blobs;
mod console;
mod extract;
mod fetches;
mod inputs;
mod live;
mod log_times;
mod metrics;
mod outputs;
mod people;
mod session;
mod usage;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};
use gantry_protocol::wire::{
    Assignment, BlobStored, EventAck, FetchFailure, FetchList, Heartbeat, HeartbeatReply, LogAck,
    NodeList, OutputList, OutputManifest, RegisterRequest, Registered, Submitted, Task, TaskEvent,
    TaskList, codes,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use tower_http::catch_panic::CatchPanicLayer;

pub(crate) use console::has_console;
pub(crate) use session::OverTls;

use crate::{ApiError, Hub};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// A person or script with an admin token.
    Admin,
    /// An agent with its node token.
    Node,
    /// Either; a node sees only its own tasks.
    AdminOrNode,
    /// A browser signed in to the web console: its session cookie alone.
    /// (Admin and AdminOrNode routes take that cookie too, see `session.rs`.)
    Session,
    /// Anyone, unless the hub has a metrics token (`--metrics-token`): then
    /// that token alone.
    Metrics,
}

/// The shape of a request or response body, for the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub enum BodyDoc {
    /// No body.
    None,
    /// JSON of a protocol type.
    Json(fn(&mut SchemaGenerator) -> Schema),
    /// A file of the web console, of this media type (or range).
    File(&'static str),
    /// A job file, in JSON or YAML.
    Job,
    /// Raw bytes.
    Bytes,
    /// Text of this media type, such as `text/event-stream`.
    Text(&'static str),
    /// A job file to check, JSON or YAML, taken whatever it holds: its
    /// problems are the answer.
    AnyJob,
}

/// A query or path parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    /// Its name.
    pub name: &'static str,
    /// `path` or `query`.
    pub location: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// JSON Schema type: `string`, `integer` or `boolean`; or a rule the hub
    /// enforces, which the document states: `sha256` (64 lowercase hex
    /// digits), `task_state` (one of the states), `limit` (1 to 1000),
    /// `offset` (a byte count, 0 or more), `seconds` (0 or more), `label`,
    /// `cursor` (a page's `next`, `CREATED_AT.ID`). See `openapi::param_schema`.
    pub kind: &'static str,
    /// What it means.
    pub description: &'static str,
}

/// One route: its method, path, documentation and handler.
#[derive(Debug)]
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` for parameters (axum and OpenAPI agree on this
    /// syntax); a parameter named `path` is routed as axum's catch-all `{*path}`.
    pub path: &'static str,
    /// One line for the document.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Its parameters.
    pub params: &'static [ParamDoc],
    /// Its request body.
    pub request: BodyDoc,
    /// Its success status and body.
    pub response: (u16, BodyDoc),
    /// The handler, with its layers (a body limit).
    route: MethodRouter<Hub>,
}

/// The schema of `T`, as [`BodyDoc::Json`] takes it.
fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The `{id}` of a task's routes.
const TASK_ID: ParamDoc = ParamDoc {
    name: "id",
    location: "path",
    required: true,
    kind: "string",
    description: "The task's id",
};

/// The `wait` of the agents' long-polls (`next`, `commands`, `fetches`).
const WAIT: ParamDoc = ParamDoc {
    name: "wait",
    location: "query",
    required: false,
    kind: "seconds",
    description: "Seconds to wait when nothing is there yet (default 30, capped by the hub)",
};

/// The `{sha256}` of the blob routes.
const SHA256: ParamDoc = ParamDoc {
    name: "sha256",
    location: "path",
    required: true,
    kind: "sha256",
    description: "The blob's sha256 in lowercase hex",
};

/// Every route of the hub.
pub fn endpoints(hub: &Hub) -> Vec<Endpoint> {
    let json_limit = DefaultBodyLimit::max(hub.config().max_json_bytes);
    let log_limit = DefaultBodyLimit::max(hub.config().max_log_append_bytes as usize);
    let mut all = public_endpoints();
    all.extend(people_endpoints(json_limit));
    all.extend(admin::endpoints(json_limit));
    all.extend(agent_endpoints(json_limit, log_limit));
    all.extend(blob_endpoints());
    all.extend(data_endpoints(json_limit));
    all.extend(log_times::log_time_endpoints());
    all.extend(session::endpoints(json_limit));
    all.extend(admin_tokens::endpoints(json_limit));
    all.extend(console::endpoints());
    all.extend(live::live_endpoints(json_limit));
    all.extend(metrics::endpoints());
    all.extend(usage::endpoints());
    all
}

/// One row of the table.
#[allow(clippy::too_many_arguments)] // one per column of the table; a struct literal per row would only add the names
fn ep(
    method: Method,
    path: &'static str,
    summary: &'static str,
    access: Access,
    params: &'static [ParamDoc],
    request: BodyDoc,
    response: (u16, BodyDoc),
    route: MethodRouter<Hub>,
) -> Endpoint {
    Endpoint {
        method,
        path,
        summary,
        access,
        params,
        request,
        response,
        route,
    }
}

/// The filters of `GET /v1/tasks`.
const LIST_TASKS_PARAMS: &[ParamDoc] = &[
    ParamDoc {
        name: "state",
        location: "query",
        required: false,
        kind: "task_state",
        description: "Only tasks in this state",
    },
    ParamDoc {
        name: "node",
        location: "query",
        required: false,
        kind: "string",
        description: "Only tasks of the node with this name",
    },
    ParamDoc {
        name: "label",
        location: "query",
        required: false,
        kind: "label",
        description: "Only tasks that ask for this label",
    },
    ParamDoc {
        name: "name",
        location: "query",
        required: false,
        kind: "string",
        description: "Only tasks whose name holds this text, whatever its case",
    },
    ParamDoc {
        name: "before",
        location: "query",
        required: false,
        kind: "cursor",
        description: "The `next` of the previous page: lists the tasks after it (older)",
    },
    ParamDoc {
        name: "limit",
        location: "query",
        required: false,
        kind: "limit",
        description: "At most this many (default 100, at most 1000)",
    },
];

/// The parameters of `GET /v1/tasks/{id}/log`.
const READ_LOG_PARAMS: &[ParamDoc] = &[
    TASK_ID,
    ParamDoc {
        name: "offset",
        location: "query",
        required: false,
        kind: "offset",
        description: "First byte to send (default 0)",
    },
    ParamDoc {
        name: "length",
        location: "query",
        required: false,
        kind: "offset",
        description: "At most this many bytes",
    },
    ParamDoc {
        name: "follow",
        location: "query",
        required: false,
        kind: "boolean",
        description: "Keep the response open and send bytes as they arrive, until the task ends",
    },
];

/// The parameters of `POST /v1/tasks/{id}/log`.
const APPEND_LOG_PARAMS: &[ParamDoc] = &[
    TASK_ID,
    ParamDoc {
        name: "offset",
        location: "query",
        required: true,
        kind: "offset",
        description: "The byte offset of the body's first byte",
    },
];

/// Calls anyone may make: health and this document.
fn public_endpoints() -> Vec<Endpoint> {
    vec![
        ep(
            Method::GET,
            "/v1/health",
            "Says the hub is up, with its version and database",
            Access::Public,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<serde_json::Value>)),
            on(method(Method::GET), people::health),
        ),
        ep(
            Method::GET,
            "/v1/openapi.json",
            "This document",
            Access::Public,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<serde_json::Value>)),
            on(method(Method::GET), people::openapi),
        ),
    ]
}

/// People's calls, with an admin token (a node token may read its own tasks).
fn people_endpoints(json_limit: DefaultBodyLimit) -> Vec<Endpoint> {
    vec![
        ep(
            Method::POST,
            "/v1/tasks",
            "Submits a job (JSON, or YAML with content-type application/yaml)",
            Access::Admin,
            &[],
            BodyDoc::Job,
            (201, BodyDoc::Json(schema::<Submitted>)),
            on(method(Method::POST), people::submit).layer(json_limit),
        ),
        ep(
            Method::GET,
            "/v1/tasks",
            "Lists tasks, newest first",
            Access::Admin,
            LIST_TASKS_PARAMS,
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<TaskList>)),
            on(method(Method::GET), people::list_tasks),
        ),
        ep(
            Method::GET,
            "/v1/tasks/{id}",
            "Shows a task with its history (a node: one it holds or gave back)",
            Access::AdminOrNode,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::GET), people::show_task),
        ),
        ep(
            Method::GET,
            "/v1/tasks/{id}/log",
            "Reads a task's log bytes, or follows them as they come",
            Access::AdminOrNode,
            READ_LOG_PARAMS,
            BodyDoc::None,
            (200, BodyDoc::Bytes),
            on(method(Method::GET), people::read_log),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/cancel",
            "Cancels a task (its node stops it)",
            Access::Admin,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::POST), people::cancel),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/pause",
            "Pauses a running task (its container is frozen)",
            Access::Admin,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::POST), people::pause),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/resume",
            "Resumes a paused task",
            Access::Admin,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::POST), people::resume),
        ),
        ep(
            Method::GET,
            "/v1/nodes",
            "Lists nodes with their last system report",
            Access::Admin,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<NodeList>)),
            on(method(Method::GET), people::list_nodes),
        ),
    ]
}

/// Agents' calls, with their node token.
fn agent_endpoints(json_limit: DefaultBodyLimit, log_limit: DefaultBodyLimit) -> Vec<Endpoint> {
    vec![
        ep(
            Method::POST,
            "/v1/agent/register",
            "An agent connects, with the tasks it still holds",
            Access::Node,
            &[],
            BodyDoc::Json(schema::<RegisterRequest>),
            (200, BodyDoc::Json(schema::<Registered>)),
            on(method(Method::POST), agents::register).layer(json_limit),
        ),
        ep(
            Method::GET,
            "/v1/agent/next",
            "Long-poll: answers the moment a task for this node is queued, else 204",
            Access::Node,
            &[WAIT],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Assignment>)),
            on(method(Method::GET), agents::next_task),
        ),
        ep(
            Method::GET,
            "/v1/agent/commands",
            "Long-poll: answers the moment a request (cancel, pause, resume) waits for this node's tasks",
            Access::Node,
            &[WAIT],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<HeartbeatReply>)),
            on(method(Method::GET), agents::wait_commands),
        ),
        ep(
            Method::POST,
            "/v1/agent/heartbeat",
            "An agent's sign of life; answered with requests for its tasks",
            Access::Node,
            &[],
            BodyDoc::Json(schema::<Heartbeat>),
            (200, BodyDoc::Json(schema::<HeartbeatReply>)),
            on(method(Method::POST), agents::heartbeat).layer(json_limit),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/events",
            "Reports a task's state change (idempotent)",
            Access::Node,
            &[TASK_ID],
            BodyDoc::Json(schema::<TaskEvent>),
            (200, BodyDoc::Json(schema::<EventAck>)),
            on(method(Method::POST), agents::task_event).layer(json_limit),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/log",
            "Appends log bytes at a byte offset; a repeat is a no-op, a gap a 409",
            Access::Node,
            APPEND_LOG_PARAMS,
            BodyDoc::Bytes,
            (200, BodyDoc::Json(schema::<LogAck>)),
            on(method(Method::POST), agents::append_log).layer(log_limit),
        ),
        ep(
            Method::PUT,
            "/v1/tasks/{id}/outputs",
            "Reports a task's results and where they are kept",
            Access::Node,
            &[TASK_ID],
            BodyDoc::Json(schema::<OutputManifest>),
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::PUT), agents::put_outputs).layer(json_limit),
        ),
    ]
}

/// Blob calls, for either kind of token.
fn blob_endpoints() -> Vec<Endpoint> {
    vec![
        ep(
            Method::HEAD,
            "/v1/blobs/{sha256}",
            "Whether the hub has a blob (200 with its length, or 404)",
            Access::AdminOrNode,
            &[SHA256],
            BodyDoc::None,
            (200, BodyDoc::None),
            on(method(Method::HEAD), blobs::head_blob),
        ),
        ep(
            Method::GET,
            "/v1/blobs/{sha256}",
            "Downloads a blob",
            Access::AdminOrNode,
            &[SHA256],
            BodyDoc::None,
            (200, BodyDoc::Bytes),
            on(method(Method::GET), blobs::get_blob),
        ),
        ep(
            Method::PUT,
            "/v1/blobs/{sha256}",
            "Uploads a blob; the hub keeps it only if its bytes hash to the address",
            Access::AdminOrNode,
            &[SHA256],
            BodyDoc::Bytes,
            (201, BodyDoc::Json(schema::<BlobStored>)),
            on(method(Method::PUT), blobs::put_blob).layer(DefaultBodyLimit::disable()),
        ),
    ]
}

/// The parameters of a node-kept output's download.
const OUTPUT_PARAMS: &[ParamDoc] = &[
    TASK_ID,
    ParamDoc {
        name: "path",
        location: "path",
        required: true,
        kind: "string",
        description: "The output's path relative to the task folder, as listed",
    },
];

/// The `{id}` of a fetch request.
const FETCH_ID: &[ParamDoc] = &[ParamDoc {
    name: "id",
    location: "path",
    required: true,
    kind: "string",
    description: "The fetch request's id, from GET /v1/agent/fetches",
}];

/// Data out: a task's outputs, and the relay that brings node-kept ones through the hub.
fn data_endpoints(json_limit: DefaultBodyLimit) -> Vec<Endpoint> {
    vec![
        ep(
            Method::GET,
            "/v1/tasks/{id}/outputs",
            "Lists a task's outputs, with where each is kept (the hub, or a node and its state)",
            Access::AdminOrNode,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<OutputList>)),
            on(method(Method::GET), outputs::list_outputs),
        ),
        ep(
            Method::GET,
            "/v1/tasks/{id}/outputs/{path}",
            "Downloads an output: from the hub's blobs, or relayed from the node that keeps it",
            Access::AdminOrNode,
            OUTPUT_PARAMS,
            BodyDoc::None,
            (200, BodyDoc::Bytes),
            on(method(Method::GET), outputs::download_output),
        ),
        ep(
            Method::GET,
            "/v1/agent/fetches",
            "Long-poll: answers the moment downloads wait for outputs this node keeps",
            Access::Node,
            &[WAIT],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<FetchList>)),
            on(method(Method::GET), fetches::wait_fetches),
        ),
        ep(
            Method::PUT,
            "/v1/agent/fetches/{id}",
            "The node sends the asked file; the hub pipes it to the waiting download",
            Access::Node,
            FETCH_ID,
            BodyDoc::Bytes,
            (204, BodyDoc::None),
            on(method(Method::PUT), fetches::put_fetch).layer(DefaultBodyLimit::disable()),
        ),
        ep(
            Method::POST,
            "/v1/agent/fetches/{id}/fail",
            "The node says why it cannot send the asked file",
            Access::Node,
            FETCH_ID,
            BodyDoc::Json(schema::<FetchFailure>),
            (204, BodyDoc::None),
            on(method(Method::POST), fetches::fail_fetch).layer(json_limit),
        ),
    ]
}

/// The filter that routes `method`.
fn method(method: Method) -> axum::routing::MethodFilter {
    axum::routing::MethodFilter::try_from(method).expect("only standard methods are routed")
}

/// The router: every endpoint, JSON answers for unknown routes and methods,
/// and panics turned into 500s that keep the hub up.
pub fn router(hub: Hub) -> Router {
    let counted = hub.clone();
    let mut router = Router::new();
    for endpoint in endpoints(&hub) {
        // A parameter named `path` takes the rest of the URL, slashes included.
        let path = endpoint.path.replace("{path}", "{*path}");
        router = router.route(&path, endpoint.route);
    }
    router
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                codes::NO_SUCH_ROUTE,
                "no such route; see /v1/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "this route does not take this method; see /v1/openapi.json",
            )
        })
        .layer(axum::middleware::from_fn(close_unread_bodies))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::INTERNAL,
                    "the hub failed on this request",
                )
                .into_response()
            },
        ))
        // Outside the panic catcher, so a panic's 500 is counted too.
        .layer(axum::middleware::from_fn_with_state(
            counted,
            metrics::count_errors,
        ))
        .with_state(hub)
}

/// Marks answers that may leave a request body unread with `Connection:
/// close`. The server then drops the connection, and a client that reused it
/// for its next request would see that request fail; the header tells it not to.
async fn close_unread_bodies(request: Request, next: axum::middleware::Next) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|length| length > 0);
    let skips_body =
        request.method() == Method::PUT && request.uri().path().starts_with("/v1/blobs/");
    let mut response = next.run(request).await;
    if has_body
        && (!response.status().is_success() || (skips_body && response.status() == StatusCode::OK))
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

//! The HTTP API: one table of endpoints, their handlers, and the extractors
//! that turn every bad request into a JSON error with a code and a sentence.
//!
//! Architecture invariant: [`endpoints`] is the only list of routes. The
//! router and the OpenAPI document are both built from it, so a route cannot
//! exist undocumented.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};
use axum::{Json, Router};
use futures::StreamExt;
use gantry_protocol::job::{Format, JobError, relative_path_problem};
use gantry_protocol::wire::{
    Assignment, BlobStored, CommandKind, EventAck, Heartbeat, HeartbeatReply, LogAck, NodeCommand,
    NodeList, NodeSettings, OutputManifest, RegisterRequest, Registered, Submitted, Task,
    TaskEvent, TaskList, codes,
};
use gantry_protocol::{JobSpec, TaskState, is_sha256_hex};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use tower_http::catch_panic::CatchPanicLayer;

use crate::blobs::Upload;
use crate::db::{Append, Caller, CommandOutcome, EventOutcome, TaskFilter};
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
}

/// The shape of a request or response body, for the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub enum BodyDoc {
    /// No body.
    None,
    /// JSON of a protocol type.
    Json(fn(&mut SchemaGenerator) -> Schema),
    /// A job file, in JSON or YAML.
    Job,
    /// Raw bytes.
    Bytes,
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
    /// JSON Schema type: `string`, `integer` or `boolean`.
    pub kind: &'static str,
    /// What it means.
    pub description: &'static str,
}

/// One route: its method, path, documentation and handler.
#[derive(Debug)]
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` for parameters (axum and OpenAPI agree on this syntax).
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
    route: MethodRouter<Hub>,
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

const TASK_ID: ParamDoc = ParamDoc {
    name: "id",
    location: "path",
    required: true,
    kind: "string",
    description: "The task's id",
};
const SHA256: ParamDoc = ParamDoc {
    name: "sha256",
    location: "path",
    required: true,
    kind: "string",
    description: "The blob's sha256 in lowercase hex",
};

/// Every route of the hub.
pub fn endpoints(hub: &Hub) -> Vec<Endpoint> {
    let json_limit = DefaultBodyLimit::max(hub.config().max_json_bytes);
    let log_limit = DefaultBodyLimit::max(hub.config().max_log_append_bytes as usize);
    let ep = |method: Method,
              path: &'static str,
              summary: &'static str,
              access: Access,
              params: &'static [ParamDoc],
              request: BodyDoc,
              response: (u16, BodyDoc),
              route: MethodRouter<Hub>| Endpoint {
        method,
        path,
        summary,
        access,
        params,
        request,
        response,
        route,
    };
    vec![
        ep(
            Method::GET,
            "/v1/health",
            "Says the hub is up, with its version and database",
            Access::Public,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<serde_json::Value>)),
            on(method(Method::GET), health),
        ),
        ep(
            Method::GET,
            "/v1/openapi.json",
            "This document",
            Access::Public,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<serde_json::Value>)),
            on(method(Method::GET), openapi),
        ),
        // ---- user calls ----
        ep(
            Method::POST,
            "/v1/tasks",
            "Submits a job (JSON, or YAML with content-type application/yaml)",
            Access::Admin,
            &[],
            BodyDoc::Job,
            (201, BodyDoc::Json(schema::<Submitted>)),
            on(method(Method::POST), submit).layer(json_limit),
        ),
        ep(
            Method::GET,
            "/v1/tasks",
            "Lists tasks, newest first",
            Access::Admin,
            &[
                ParamDoc {
                    name: "state",
                    location: "query",
                    required: false,
                    kind: "string",
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
                    name: "limit",
                    location: "query",
                    required: false,
                    kind: "integer",
                    description: "At most this many (default 100, at most 1000)",
                },
            ],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<TaskList>)),
            on(method(Method::GET), list_tasks),
        ),
        ep(
            Method::GET,
            "/v1/tasks/{id}",
            "Shows a task with its history",
            Access::AdminOrNode,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::GET), show_task),
        ),
        ep(
            Method::GET,
            "/v1/tasks/{id}/log",
            "Reads a task's log bytes, or follows them as they come",
            Access::AdminOrNode,
            &[
                TASK_ID,
                ParamDoc {
                    name: "offset",
                    location: "query",
                    required: false,
                    kind: "integer",
                    description: "First byte to send (default 0)",
                },
                ParamDoc {
                    name: "length",
                    location: "query",
                    required: false,
                    kind: "integer",
                    description: "At most this many bytes",
                },
                ParamDoc {
                    name: "follow",
                    location: "query",
                    required: false,
                    kind: "boolean",
                    description: "Keep the response open and send bytes as they arrive, until the task ends",
                },
            ],
            BodyDoc::None,
            (200, BodyDoc::Bytes),
            on(method(Method::GET), read_log),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/cancel",
            "Cancels a task (its node stops it)",
            Access::Admin,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::POST), cancel),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/pause",
            "Pauses a running task (its container is frozen)",
            Access::Admin,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::POST), pause),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/resume",
            "Resumes a paused task",
            Access::Admin,
            &[TASK_ID],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::POST), resume),
        ),
        ep(
            Method::GET,
            "/v1/nodes",
            "Lists nodes with their last system report",
            Access::Admin,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<NodeList>)),
            on(method(Method::GET), list_nodes),
        ),
        // ---- agent calls ----
        ep(
            Method::POST,
            "/v1/agent/register",
            "An agent connects, with the tasks it still holds",
            Access::Node,
            &[],
            BodyDoc::Json(schema::<RegisterRequest>),
            (200, BodyDoc::Json(schema::<Registered>)),
            on(method(Method::POST), register).layer(json_limit),
        ),
        ep(
            Method::GET,
            "/v1/agent/next",
            "Long-poll: answers the moment a task for this node is queued, else 204",
            Access::Node,
            &[ParamDoc {
                name: "wait",
                location: "query",
                required: false,
                kind: "integer",
                description: "Seconds to wait (default 30, capped by the hub)",
            }],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Assignment>)),
            on(method(Method::GET), next_task),
        ),
        ep(
            Method::GET,
            "/v1/agent/commands",
            "Long-poll: answers the moment a request (cancel, pause, resume) waits for this node's tasks",
            Access::Node,
            &[ParamDoc {
                name: "wait",
                location: "query",
                required: false,
                kind: "integer",
                description: "Seconds to wait when nothing is pending (default 30, capped by the hub)",
            }],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<HeartbeatReply>)),
            on(method(Method::GET), wait_commands),
        ),
        ep(
            Method::POST,
            "/v1/agent/heartbeat",
            "An agent's sign of life; answered with requests for its tasks",
            Access::Node,
            &[],
            BodyDoc::Json(schema::<Heartbeat>),
            (200, BodyDoc::Json(schema::<HeartbeatReply>)),
            on(method(Method::POST), heartbeat).layer(json_limit),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/events",
            "Reports a task's state change (idempotent)",
            Access::Node,
            &[TASK_ID],
            BodyDoc::Json(schema::<TaskEvent>),
            (200, BodyDoc::Json(schema::<EventAck>)),
            on(method(Method::POST), task_event).layer(json_limit),
        ),
        ep(
            Method::POST,
            "/v1/tasks/{id}/log",
            "Appends log bytes at a byte offset; a repeat is a no-op, a gap a 409",
            Access::Node,
            &[
                TASK_ID,
                ParamDoc {
                    name: "offset",
                    location: "query",
                    required: true,
                    kind: "integer",
                    description: "The byte offset of the body's first byte",
                },
            ],
            BodyDoc::Bytes,
            (200, BodyDoc::Json(schema::<LogAck>)),
            on(method(Method::POST), append_log).layer(log_limit),
        ),
        ep(
            Method::PUT,
            "/v1/tasks/{id}/outputs",
            "Reports a task's results and where they are kept",
            Access::Node,
            &[TASK_ID],
            BodyDoc::Json(schema::<OutputManifest>),
            (200, BodyDoc::Json(schema::<Task>)),
            on(method(Method::PUT), put_outputs).layer(json_limit),
        ),
        // ---- blobs ----
        ep(
            Method::HEAD,
            "/v1/blobs/{sha256}",
            "Whether the hub has a blob (200 with its length, or 404)",
            Access::AdminOrNode,
            &[SHA256],
            BodyDoc::None,
            (200, BodyDoc::None),
            on(method(Method::HEAD), head_blob),
        ),
        ep(
            Method::GET,
            "/v1/blobs/{sha256}",
            "Downloads a blob",
            Access::AdminOrNode,
            &[SHA256],
            BodyDoc::None,
            (200, BodyDoc::Bytes),
            on(method(Method::GET), get_blob),
        ),
        ep(
            Method::PUT,
            "/v1/blobs/{sha256}",
            "Uploads a blob; the hub keeps it only if its bytes hash to the address",
            Access::AdminOrNode,
            &[SHA256],
            BodyDoc::Bytes,
            (201, BodyDoc::Json(schema::<BlobStored>)),
            on(method(Method::PUT), put_blob).layer(DefaultBodyLimit::disable()),
        ),
    ]
}

fn method(method: Method) -> axum::routing::MethodFilter {
    axum::routing::MethodFilter::try_from(method).expect("only standard methods are routed")
}

/// The router: every endpoint, JSON answers for unknown routes and methods,
/// and panics turned into 500s that keep the hub up.
pub fn router(hub: Hub) -> Router {
    let mut router = Router::new();
    for endpoint in endpoints(&hub) {
        router = router.route(endpoint.path, endpoint.route);
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

// ---- extractors ----

/// The caller, found from `Authorization: Bearer <token>`.
struct Authed(Caller);

impl FromRequestParts<Hub> for Authed {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message);
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            unauthorized("this call needs a token: send the header Authorization: Bearer <token>")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must read: Bearer <token>"))?;
        match hub.db().caller(token).await? {
            Some(caller) => Ok(Authed(caller)),
            None => Err(unauthorized(
                "the hub does not know this token; check it was copied whole, or create a new one \
                 (gantry hub node add / gantry hub token create)",
            )),
        }
    }
}

/// An admin caller.
struct Admin(String);

impl FromRequestParts<Hub> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        match Authed::from_request_parts(parts, hub).await?.0 {
            Caller::Admin { name } => Ok(Admin(name)),
            Caller::Node { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                "this call needs an admin token, and a node token was sent; create one with gantry hub token create --admin NAME",
            )),
        }
    }
}

/// A node caller.
struct NodeAuth {
    id: String,
    name: String,
}

impl FromRequestParts<Hub> for NodeAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        match Authed::from_request_parts(parts, hub).await?.0 {
            Caller::Node { id, name } => Ok(NodeAuth { id, name }),
            Caller::Admin { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                "this call is for agents and needs a node token; create one with gantry hub node add NAME",
            )),
        }
    }
}

impl Authed {
    /// The node whose tasks the caller may see, or `None` for all (admin).
    fn node_scope(&self) -> Option<&str> {
        match &self.0 {
            Caller::Admin { .. } => None,
            Caller::Node { id, .. } => Some(id),
        }
    }
}

/// A JSON body whose rejection is an [`ApiError`].
struct JsonBody<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::BAD_REQUEST,
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(rejection) => bytes_rejection(rejection),
        other => ApiError::bad_request(format!(
            "the JSON body cannot be read: {}",
            other.body_text()
        )),
    }
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_too_large()
    } else {
        ApiError::bad_request(format!(
            "the body could not be read: {}",
            rejection.body_text()
        ))
    }
}

fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        "the body is larger than the hub accepts for this call; send less, or in parts",
    )
}

/// Query parameters whose rejection is an [`ApiError`].
struct QueryArgs<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| QueryArgs(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::bad_request(format!(
                    "the query string cannot be read: {}",
                    rejection.body_text()
                ))
            })
    }
}

/// A path parameter whose rejection is an [`ApiError`].
struct PathArg(String);

impl<S: Send + Sync> FromRequestParts<S> for PathArg {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathArg(value))
            .map_err(|rejection: PathRejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// A task id from the path. Anything that cannot be an id (control bytes,
/// absurd lengths) is answered as an unknown task before it reaches the
/// database, which may refuse such text (PostgreSQL refuses NUL).
struct TaskId(String);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathArg(id) = PathArg::from_request_parts(parts, state).await?;
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(ApiError::not_found("task"));
        }
        Ok(TaskId(id))
    }
}

// ---- handlers: public ----

async fn health(State(hub): State<Hub>) -> Json<serde_json::Value> {
    let database = match hub.db().backend() {
        crate::db::Backend::Sqlite => "sqlite",
        crate::db::Backend::Postgres => "postgres",
    };
    Json(
        serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "database": database}),
    )
}

async fn openapi(State(hub): State<Hub>) -> Json<serde_json::Value> {
    Json(
        hub.inner
            .openapi
            .get_or_init(|| crate::openapi::document(&endpoints(&hub)))
            .clone(),
    )
}

// ---- handlers: user calls ----

async fn submit(
    State(hub): State<Hub>,
    Admin(by): Admin,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(bytes_rejection)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = if content_type.contains("yaml") {
        Format::Yaml
    } else {
        Format::Json
    };
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the job is not UTF-8 text"))?;
    let spec = JobSpec::parse(text, format).map_err(invalid_job)?;
    // Refuse a job whose blobs are missing now, rather than fail it on a node later.
    let mut missing = Vec::new();
    let blobs = spec.inputs.keys().map(|k| ("inputs", k)).chain(
        spec.files
            .iter()
            .filter_map(|f| f.blob.as_ref())
            .map(|b| ("files", b)),
    );
    for (key, sha256) in blobs {
        if hub.blobs().size(sha256).await.is_none() {
            missing.push(format!(
                "{key}: blob {sha256} is not on the hub; upload it first (PUT /v1/blobs/{sha256})"
            ));
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_JOB,
            missing.join("; "),
        ));
    }
    let id = hub.db().submit(&spec, &by, hub.now()).await?;
    hub.signals().task_queued(&spec.labels);
    tracing::info!(task = %id, by = %by, "task submitted");
    Ok((StatusCode::CREATED, Json(Submitted { id })).into_response())
}

fn invalid_job(error: JobError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        codes::INVALID_JOB,
        format!("the job was refused: {error}"),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    state: Option<String>,
    node: Option<String>,
    limit: Option<u32>,
}

async fn list_tasks(
    State(hub): State<Hub>,
    _: Admin,
    QueryArgs(args): QueryArgs<ListArgs>,
) -> Result<Json<TaskList>, ApiError> {
    let state = args
        .state
        .map(|s| s.parse::<TaskState>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let filter = TaskFilter {
        state,
        node: args.node,
        limit: args.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(Json(TaskList {
        tasks: hub.db().tasks(&filter).await?,
    }))
}

async fn show_task(
    State(hub): State<Hub>,
    auth: Authed,
    TaskId(id): TaskId,
) -> Result<Json<Task>, ApiError> {
    hub.db()
        .task(&id, auth.node_scope())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("task"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    offset: Option<u64>,
    length: Option<u64>,
    follow: Option<bool>,
}

/// How many log bytes one read from the database brings.
const LOG_PAGE: u64 = 1 << 20;

async fn read_log(
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

async fn cancel(
    State(hub): State<Hub>,
    Admin(by): Admin,
    TaskId(id): TaskId,
) -> Result<Json<Task>, ApiError> {
    steer(hub, &by, &id, CommandKind::Cancel).await
}

async fn pause(
    State(hub): State<Hub>,
    Admin(by): Admin,
    TaskId(id): TaskId,
) -> Result<Json<Task>, ApiError> {
    steer(hub, &by, &id, CommandKind::Pause).await
}

async fn resume(
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

async fn list_nodes(State(hub): State<Hub>, _: Admin) -> Result<Json<NodeList>, ApiError> {
    let offline_after = hub.config().offline_after.as_millis() as i64;
    Ok(Json(NodeList {
        nodes: hub.db().nodes(hub.now(), offline_after).await?,
    }))
}

// ---- handlers: agent calls ----

fn settings(hub: &Hub) -> NodeSettings {
    let config = hub.config();
    NodeSettings {
        heartbeat_secs: config.heartbeat.as_secs().max(1),
        offline_after_secs: config.offline_after.as_secs().max(1),
        max_wait_secs: config.max_wait.as_secs(),
        max_log_append_bytes: config.max_log_append_bytes,
    }
}

async fn register(
    State(hub): State<Hub>,
    node: NodeAuth,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<Json<Registered>, ApiError> {
    for label in &request.labels {
        if let Some(problem) = gantry_protocol::job::label_problem(label) {
            return Err(ApiError::bad_request(format!("labels: {problem}")));
        }
    }
    let reconciled = hub
        .db()
        .register(
            &node.id,
            &request.version,
            &request.labels,
            request.system.as_ref(),
            &request.inventory,
            hub.now(),
        )
        .await?;
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
    Ok(Json(Registered {
        node_id: record.id,
        node_name: record.name,
        labels: record.labels.into_iter().collect(),
        settings: settings(&hub),
        reconciled,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextArgs {
    wait: Option<u64>,
}

async fn next_task(
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
    let place = hub.signals().poll_for_work(record.labels.clone());
    loop {
        place.bell.answer();
        if let Some(task) = hub.db().claim_next(&record, hub.now()).await? {
            hub.signals().task_changed(&task.id);
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

async fn wait_commands(
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

async fn heartbeat(
    State(hub): State<Hub>,
    node: NodeAuth,
    JsonBody(beat): JsonBody<Heartbeat>,
) -> Result<Json<HeartbeatReply>, ApiError> {
    let commands = hub
        .db()
        .heartbeat(
            &node.id,
            beat.system.as_ref(),
            &beat.tasks,
            beat.accepting,
            hub.now(),
        )
        .await?;
    Ok(Json(HeartbeatReply {
        commands: commands
            .into_iter()
            .map(|(task_id, command)| NodeCommand { task_id, command })
            .collect(),
    }))
}

async fn task_event(
    State(hub): State<Hub>,
    node: NodeAuth,
    TaskId(id): TaskId,
    JsonBody(event): JsonBody<TaskEvent>,
) -> Result<Json<EventAck>, ApiError> {
    match hub
        .db()
        .apply_event(&id, &node.id, &event, hub.now())
        .await?
    {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppendArgs {
    offset: u64,
}

async fn append_log(
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
            hub.signals().task_changed(&id);
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

async fn put_outputs(
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

// ---- handlers: blobs ----

fn blob_address(sha256: &str) -> Result<(), ApiError> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "\"{sha256}\" is not a blob address; use the 64 lowercase hex digits of the sha256"
        )))
    }
}

async fn head_blob(
    State(hub): State<Hub>,
    _: Authed,
    PathArg(sha256): PathArg,
) -> Result<Response, ApiError> {
    blob_address(&sha256)?;
    match hub.blobs().size(&sha256).await {
        Some(size) => Ok(([(header::CONTENT_LENGTH, size)], StatusCode::OK).into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

async fn get_blob(
    State(hub): State<Hub>,
    _: Authed,
    PathArg(sha256): PathArg,
) -> Result<Response, ApiError> {
    blob_address(&sha256)?;
    let file = tokio::fs::File::open(hub.blobs().path(&sha256))
        .await
        .map_err(|_| ApiError::not_found("blob"))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
        ],
        body,
    )
        .into_response())
}

async fn put_blob(
    State(hub): State<Hub>,
    _: Authed,
    PathArg(sha256): PathArg,
    body: Body,
) -> Result<Response, ApiError> {
    blob_address(&sha256)?;
    if let Some(size) = hub.blobs().size(&sha256).await {
        // Content addressing makes a second upload of the same bytes pointless.
        return Ok((StatusCode::OK, Json(BlobStored { sha256, size })).into_response());
    }
    let stream = body.into_data_stream().boxed();
    match hub
        .blobs()
        .put(&sha256, stream, hub.config().max_blob_bytes)
        .await?
    {
        Upload::Stored(size) => {
            Ok((StatusCode::CREATED, Json(BlobStored { sha256, size })).into_response())
        }
        Upload::Mismatch(actual) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::HASH_MISMATCH,
            format!(
                "the bytes sent hash to {actual}, not to {sha256}; upload them at their own address"
            ),
        )),
        Upload::TooLarge => Err(body_too_large()),
    }
}

//! The client of a Gantry hub's `/v1` API, for the agent and for people's
//! commands alike: the CLI's `task` and `node` commands, the desktop app,
//! the tests and the benchmarks all talk to a hub through [`HubClient`].
//!
//! It is a crate of its own so that talking to a hub links neither Docker
//! nor NVML. Errors keep the hub's stable code and sentence
//! ([`ClientError::Api`]) and say plainly when the hub cannot be reached at
//! all, so a person can tell a wrong address from a wrong token.
//!
//! Architecture invariant: reqwest appears in this crate's library code
//! only; the token is sent in one place ([`HubClient`]'s request builder)
//! and never printed.

#![deny(missing_docs)]

mod admin;
mod drive_calls;
mod error;
mod probe;
pub mod registry;
mod token;
mod transfer;
mod trust;
mod usage;

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use gantry_protocol::wire::{
    Assignment, BlobStored, ErrorBody, EventAck, Heartbeat, HeartbeatReply, LogAck, NodeList,
    OutputManifest, RegisterRequest, Registered, Submitted, Task, TaskEvent, TaskList, codes,
};
use gantry_protocol::{JobSpec, TaskState};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

pub use drive_calls::TaskNews;
pub use error::ClientError;
use error::is_tls;
pub use probe::{HealthProbe, ProxyRoute, proxy_for};
pub use token::Token;
pub use transfer::{CHUNK, Progress, Uploaded, hash_file, no_progress};
pub use trust::{Trust, in_clear, in_clear_refusal};

/// What a long-poll for work returned.
#[derive(Debug)]
pub enum Next {
    /// A task for this node.
    Task(Box<Task>),
    /// Nothing was queued during the wait.
    Idle,
}

/// A client of one hub, with one token.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Token,
    /// Set, for every clone, when the hub refuses the token for good; see [`HubClient::refusal`].
    refusal: std::sync::Arc<tokio::sync::watch::Sender<Option<ErrorBody>>>,
}

/// How long a plain call may take; long-polls and streams get their own limits.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl HubClient {
    /// A client of the hub at `server` (e.g. `http://127.0.0.1:8750`) that
    /// trusts the system's root certificates ([`HubClient::with_trust`] adds a CA file).
    pub fn new(server: &str, token: Token) -> Result<HubClient, ClientError> {
        HubClient::with_trust(server, token, &Trust::system())
    }

    /// The hub's address.
    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .expect("API paths are valid URL paths");
        self.http
            .request(method, url)
            .bearer_auth(self.token.expose())
    }

    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|e| self.network_error(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| ErrorBody {
            code: codes::HTTP_ERROR.into(),
            message: format!(
                "the server at {} answered {status}{}; is this a Gantry hub?",
                self.server(),
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {}", text.chars().take(200).collect::<String>())
                }
            ),
            committed: None,
        });
        if status == StatusCode::UNAUTHORIZED && admin::is_refusal(&body.code) {
            self.refusal.send_replace(Some(body.clone()));
        }
        Err(ClientError::Api {
            status: status.as_u16(),
            body,
        })
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let response = self.send(request).await?;
        response
            .json::<T>()
            .await
            .map_err(|e| self.network_error(e))
    }

    fn network_error(&self, error: reqwest::Error) -> ClientError {
        let url = self.server().to_owned();
        if error.is_timeout() {
            ClientError::Timeout { url }
        } else if error.is_decode() {
            ClientError::Protocol {
                url,
                detail: error.to_string(),
            }
        } else {
            // reqwest's outer message is generic; the cause says what happened.
            let mut detail = error.to_string();
            let mut tls = false;
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                detail = cause.to_string();
                tls |= is_tls(cause);
                source = cause.source();
            }
            if tls {
                ClientError::Tls { url, detail }
            } else {
                ClientError::Unreachable { url, detail }
            }
        }
    }

    /// Checks that the server is a Gantry hub and that the token is a node
    /// token it knows, with no other effect: what a setup wizard calls before
    /// it keeps a token. A wrong token is an [`ClientError::Api`] with status
    /// 401, an admin token one with status 403.
    pub async fn check_node_token(&self) -> Result<(), ClientError> {
        let health = self.request(Method::GET, "v1/health");
        match self.json::<serde_json::Value>(health).await {
            Ok(body) if body.get("status").and_then(|s| s.as_str()) == Some("ok") => {}
            Ok(body) => {
                return Err(ClientError::NotAHub {
                    url: self.server().to_owned(),
                    detail: format!(
                        "its /v1/health said {}",
                        body.to_string().chars().take(120).collect::<String>()
                    ),
                });
            }
            Err(ClientError::Api { status, body }) if body.code == codes::HTTP_ERROR => {
                return Err(ClientError::NotAHub {
                    url: self.server().to_owned(),
                    detail: format!("/v1/health answered HTTP {status}"),
                });
            }
            Err(ClientError::Protocol { url, detail }) => {
                return Err(ClientError::NotAHub { url, detail });
            }
            Err(error) => return Err(error),
        }
        self.commands(Duration::ZERO).await.map(|_| ())
    }

    // ---- user calls ----

    /// Submits a job; returns the task's id.
    pub async fn submit(&self, spec: &JobSpec) -> Result<String, ClientError> {
        let submitted: Submitted = self
            .json(
                self.request(Method::POST, "v1/tasks")
                    .timeout(CALL_TIMEOUT)
                    .json(spec),
            )
            .await?;
        Ok(submitted.id)
    }

    /// Lists tasks, newest first.
    pub async fn tasks(
        &self,
        state: Option<TaskState>,
        limit: Option<u32>,
    ) -> Result<Vec<Task>, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(state) = state {
            query.push(("state", state.as_str().to_owned()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let list: TaskList = self
            .json(
                self.request(Method::GET, "v1/tasks")
                    .query(&query)
                    .timeout(CALL_TIMEOUT),
            )
            .await?;
        Ok(list.tasks)
    }

    /// One task with its history.
    pub async fn task(&self, id: &str) -> Result<Task, ClientError> {
        self.json(
            self.request(Method::GET, &format!("v1/tasks/{}", path_part(id)))
                .timeout(CALL_TIMEOUT),
        )
        .await
    }

    /// The task's log from byte `offset`; with `follow`, the stream goes on
    /// until the task ends.
    pub async fn log(
        &self,
        id: &str,
        offset: u64,
        follow: bool,
    ) -> Result<impl Stream<Item = Result<Bytes, ClientError>> + use<>, ClientError> {
        let mut request = self
            .request(Method::GET, &format!("v1/tasks/{}/log", path_part(id)))
            .query(&[
                ("offset", offset.to_string()),
                ("follow", follow.to_string()),
            ]);
        if !follow {
            request = request.timeout(Duration::from_secs(600));
        }
        let response = self.send(request).await?;
        let this = self.clone();
        Ok(response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| this.network_error(e))))
    }

    /// Cancels a task.
    pub async fn cancel(&self, id: &str) -> Result<Task, ClientError> {
        self.steer(id, "cancel").await
    }

    /// Pauses a running task.
    pub async fn pause(&self, id: &str) -> Result<Task, ClientError> {
        self.steer(id, "pause").await
    }

    /// Resumes a paused task.
    pub async fn resume(&self, id: &str) -> Result<Task, ClientError> {
        self.steer(id, "resume").await
    }

    async fn steer(&self, id: &str, what: &str) -> Result<Task, ClientError> {
        let path = format!("v1/tasks/{}/{what}", path_part(id));
        self.json(self.request(Method::POST, &path).timeout(CALL_TIMEOUT))
            .await
    }

    /// Every node with its last system report.
    pub async fn nodes(&self) -> Result<NodeList, ClientError> {
        self.json(self.request(Method::GET, "v1/nodes").timeout(CALL_TIMEOUT))
            .await
    }

    // ---- agent calls ----

    /// Connects this node, reporting the tasks it still holds.
    pub async fn register(&self, request: &RegisterRequest) -> Result<Registered, ClientError> {
        self.json(
            self.request(Method::POST, "v1/agent/register")
                .timeout(CALL_TIMEOUT)
                .json(request),
        )
        .await
    }

    /// Waits up to `wait` for a task for this node.
    pub async fn next(&self, wait: Duration) -> Result<Next, ClientError> {
        let request = self
            .request(Method::GET, "v1/agent/next")
            .query(&[("wait", wait.as_secs().to_string())])
            .timeout(wait + Duration::from_secs(15));
        let response = self.send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Next::Idle);
        }
        let assignment: Assignment = response.json().await.map_err(|e| self.network_error(e))?;
        Ok(Next::Task(Box::new(assignment.task)))
    }

    /// Waits up to `wait` for requests (cancel, pause, resume) for this node's tasks.
    pub async fn commands(&self, wait: Duration) -> Result<HeartbeatReply, ClientError> {
        let request = self
            .request(Method::GET, "v1/agent/commands")
            .query(&[("wait", wait.as_secs().to_string())])
            .timeout(wait + Duration::from_secs(15));
        self.json(request).await
    }

    /// Sends a heartbeat; the answer holds requests for this node's tasks.
    pub async fn heartbeat(&self, beat: &Heartbeat) -> Result<HeartbeatReply, ClientError> {
        self.json(
            self.request(Method::POST, "v1/agent/heartbeat")
                .timeout(CALL_TIMEOUT)
                .json(beat),
        )
        .await
    }

    /// Reports a task's state change.
    pub async fn event(&self, id: &str, event: &TaskEvent) -> Result<EventAck, ClientError> {
        let path = format!("v1/tasks/{}/events", path_part(id));
        self.json(
            self.request(Method::POST, &path)
                .timeout(CALL_TIMEOUT)
                .json(event),
        )
        .await
    }

    /// Appends log bytes at `offset`. A gap comes back as
    /// [`ClientError::Api`] with code `log_gap` and the committed length.
    pub async fn append_log(
        &self,
        id: &str,
        offset: u64,
        bytes: Bytes,
    ) -> Result<LogAck, ClientError> {
        let request = self
            .request(Method::POST, &format!("v1/tasks/{}/log", path_part(id)))
            .query(&[("offset", offset.to_string())])
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(CALL_TIMEOUT)
            .body(bytes);
        self.json(request).await
    }

    /// Reports a task's results.
    pub async fn put_outputs(
        &self,
        id: &str,
        manifest: &OutputManifest,
    ) -> Result<Task, ClientError> {
        let path = format!("v1/tasks/{}/outputs", path_part(id));
        self.json(
            self.request(Method::PUT, &path)
                .timeout(CALL_TIMEOUT)
                .json(manifest),
        )
        .await
    }

    /// The blob's size, if the hub has it.
    pub async fn blob_size(&self, sha256: &str) -> Result<Option<u64>, ClientError> {
        let request = self
            .request(Method::HEAD, &format!("v1/blobs/{}", path_part(sha256)))
            .timeout(CALL_TIMEOUT);
        let response = request.send().await.map_err(|e| self.network_error(e))?;
        match response.status() {
            // A HEAD answer has no body, so the size is read from the header itself.
            StatusCode::OK => Ok(response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(ClientError::Api {
                status: status.as_u16(),
                body: ErrorBody {
                    code: codes::HTTP_ERROR.into(),
                    message: format!("checking a blob answered {status}"),
                    committed: None,
                },
            }),
        }
    }

    /// Uploads a blob's bytes to its address.
    pub async fn put_blob(&self, sha256: &str, bytes: Bytes) -> Result<BlobStored, ClientError> {
        let request = self
            .request(Method::PUT, &format!("v1/blobs/{}", path_part(sha256)))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        self.json(request).await
    }

    /// Uploads a file as a blob, streaming it from disk so its size does not
    /// matter to memory.
    pub async fn put_blob_file(
        &self,
        sha256: &str,
        path: &std::path::Path,
    ) -> Result<BlobStored, ClientError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| ClientError::LocalFile(format!("cannot read {}: {e}", path.display())))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| ClientError::LocalFile(format!("cannot read {}: {e}", path.display())))?
            .len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file,
            transfer::CHUNK,
        ));
        let request = self
            .request(Method::PUT, &format!("v1/blobs/{}", path_part(sha256)))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body);
        self.json(request).await
    }

    /// Downloads a blob as a stream of chunks.
    pub async fn blob(
        &self,
        sha256: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, ClientError>> + use<>, ClientError> {
        let response = self
            .send(self.request(Method::GET, &format!("v1/blobs/{}", path_part(sha256))))
            .await?;
        let this = self.clone();
        Ok(response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| this.network_error(e))))
    }
}

/// Escapes an id for use as one path segment, so an id with '/' or '?'
/// cannot reach another route.
fn path_part(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert!(HubClient::new("http://127.0.0.1:8750/", Token::new("x")).is_ok());
        assert!(matches!(
            HubClient::new("127.0.0.1:8750", Token::new("x")),
            Err(ClientError::BadAddress(_))
        ));
        assert!(matches!(
            HubClient::new("ftp://hub", Token::new("x")),
            Err(ClientError::BadAddress(_))
        ));
    }

    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(path_part("abc-1"), "abc-1");
        assert_eq!(path_part("../nodes?x"), "..%2Fnodes%3Fx");
    }
}

//! The local control socket, `<host dir>/agent.sock` (0600): how commands on
//! this machine reach a running agent.
//!
//! One JSON request per line, one JSON answer per line. `follow` answers its
//! line and then streams the task's log bytes until the task's output is
//! complete, read through the agent's [`crate::spool::Tail`].

use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::node::{Agent, AgentStatus};
use crate::spool::Tail;

/// A request over the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The agent's state.
    Status,
    /// Pause one task, or all (and take no new ones) when `task` is absent.
    Pause {
        /// The task, or all.
        #[serde(default)]
        task: Option<String>,
    },
    /// Resume one task, or all.
    Resume {
        /// The task, or all.
        #[serde(default)]
        task: Option<String>,
    },
    /// Stop taking new tasks (`on: true`) or take them again.
    Drain {
        /// Whether to drain.
        on: bool,
    },
    /// Cancel a task.
    Cancel {
        /// The task.
        task: String,
    },
    /// Stream a task's log.
    Follow {
        /// The task.
        task: String,
    },
}

/// An answer over the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Whether the request was done.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
}

impl Answer {
    fn ok() -> Answer {
        Answer {
            ok: true,
            error: None,
            status: None,
        }
    }

    fn error(message: impl Into<String>) -> Answer {
        Answer {
            ok: false,
            error: Some(message.into()),
            status: None,
        }
    }
}

/// Why the socket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another agent already serves this host dir.
    #[error(
        "another agent is running with the host dir {0}; stop it first or use another --host-dir"
    )]
    Busy(String),
    /// No agent answers on the socket.
    #[error(
        "no agent is running with the host dir {0} (no answer on its agent.sock); start one with gantry agent start"
    )]
    NotRunning(String),
    /// Anything else.
    #[error("the control socket failed: {0}")]
    Io(#[from] std::io::Error),
    /// The other side spoke something else.
    #[error("the agent's answer could not be read: {0}")]
    Protocol(String),
}

/// Serves the socket until `stop` is cancelled; every connection is tracked
/// and awaited.
pub async fn serve(agent: Agent, stop: CancellationToken) -> Result<(), ControlError> {
    let path = agent.host().socket();
    let listener = bind(&path).await?;
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let agent = agent.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            if let Err(error) = handle(agent, stream, stop).await {
                tracing::debug!(%error, "a control connection failed");
            }
        });
    }
    tracker.close();
    tracker.wait().await;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    check_free(path.parent().unwrap_or(path)).await?;
    if path.exists() {
        // Left by an agent that did not stop cleanly.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Fails when another agent answers on the host dir's socket. `gantry agent
/// start` checks this before it registers, so a second agent stops before it
/// takes work; [`serve`] checks again when it binds.
pub async fn check_free(host_dir: &Path) -> Result<(), ControlError> {
    let path = host_dir.join("agent.sock");
    if path.exists() && UnixStream::connect(&path).await.is_ok() {
        return Err(ControlError::Busy(host_dir.display().to_string()));
    }
    Ok(())
}

async fn handle(
    agent: Agent,
    stream: UnixStream,
    stop: CancellationToken,
) -> Result<(), ControlError> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let request = match serde_json::from_str::<Request>(&line) {
            Ok(request) => request,
            Err(error) => {
                send(
                    &mut write,
                    &Answer::error(format!("not a request: {error}")),
                )
                .await?;
                continue;
            }
        };
        let answer = match request {
            Request::Status => Answer {
                status: Some(agent.status()),
                ..Answer::ok()
            },
            Request::Pause { task: None } => {
                agent.pause_all();
                Answer::ok()
            }
            Request::Resume { task: None } => {
                agent.resume_all();
                Answer::ok()
            }
            Request::Pause { task: Some(id) } => held(agent.pause_task(&id), &id),
            Request::Resume { task: Some(id) } => held(agent.resume_task(&id), &id),
            Request::Cancel { task } => held(agent.cancel_task(&task), &task),
            Request::Drain { on } => {
                agent.drain(on);
                Answer::ok()
            }
            Request::Follow { task } => {
                let tail = tokio::select! {
                    tail = agent.tail(&task, 0) => tail?,
                    _ = stop.cancelled() => return Ok(()),
                };
                let Some(tail) = tail else {
                    send(
                        &mut write,
                        &Answer::error(format!("this agent has no log for task {task}")),
                    )
                    .await?;
                    continue;
                };
                send(&mut write, &Answer::ok()).await?;
                copy_tail(tail, &mut write, &stop).await?;
                return Ok(());
            }
        };
        send(&mut write, &answer).await?;
    }
    Ok(())
}

fn held(found: bool, id: &str) -> Answer {
    if found {
        Answer::ok()
    } else {
        Answer::error(format!("this agent does not hold task {id}"))
    }
}

async fn send(write: &mut (impl AsyncWrite + Unpin), answer: &Answer) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(answer).expect("answers serialize");
    line.push(b'\n');
    write.write_all(&line).await
}

/// Copies the log as it grows, until the task's output is complete (or the
/// socket stops).
async fn copy_tail(
    mut tail: Tail,
    write: &mut (impl AsyncWrite + Unpin),
    stop: &CancellationToken,
) -> std::io::Result<()> {
    loop {
        let next = tokio::select! {
            next = tail.next(64 * 1024) => next?,
            _ = stop.cancelled() => return Ok(()),
        };
        match next {
            Some(bytes) => write.write_all(&bytes).await?,
            None => return write.flush().await,
        }
    }
}

/// Sends one request to the agent of `host_dir` and returns its answer.
pub async fn request(host_dir: &Path, request: &Request) -> Result<Answer, ControlError> {
    let mut stream = connect(host_dir).await?;
    let mut line = serde_json::to_vec(request).expect("requests serialize");
    line.push(b'\n');
    stream.write_all(&line).await?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).await?;
    serde_json::from_str(&answer).map_err(|e| ControlError::Protocol(e.to_string()))
}

/// Streams a task's log from the agent of `host_dir` into `out`.
pub async fn follow(
    host_dir: &Path,
    task: &str,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<(), ControlError> {
    let mut stream = connect(host_dir).await?;
    let mut line = serde_json::to_vec(&Request::Follow {
        task: task.to_owned(),
    })
    .expect("requests serialize");
    line.push(b'\n');
    stream.write_all(&line).await?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).await?;
    let answer: Answer =
        serde_json::from_str(&first).map_err(|e| ControlError::Protocol(e.to_string()))?;
    if !answer.ok {
        return Err(ControlError::Protocol(answer.error.unwrap_or_default()));
    }
    tokio::io::copy(&mut reader, out).await?;
    Ok(())
}

async fn connect(host_dir: &Path) -> Result<UnixStream, ControlError> {
    UnixStream::connect(host_dir.join("agent.sock"))
        .await
        .map_err(|_| ControlError::NotRunning(host_dir.display().to_string()))
}

//! The monitor: a page listing the driver's jobs that updates itself and
//! says when the driver went away (`GET /`), the same as JSON (`GET /jobs`),
//! and `POST /kill` with the monitor's token, which stops the driver.
//!
//! Why a page that polls: the driver ends when its work is done, and a
//! browser's failed fetch is exactly the "driver disconnected" alert Borgy's
//! monitor gave; no socket to keep alive, nothing to reconnect.

mod http;
pub mod token;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use gantry_protocol::wire::codes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::board::Board;
use http::Response;
use token::TokenFile;

/// The page, with its script and style inline.
const PAGE: &str = include_str!("page.html");

/// Why the monitor could not start or a kill failed, in words.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The address is not `HOST:PORT`.
    #[error("\"{0}\" is not a monitor address; write HOST:PORT, e.g. 127.0.0.1:8666, or off")]
    BadAddress(String),
    /// Binding failed (the port is taken, say).
    #[error(
        "cannot listen on {addr} for the monitor: {source}; pick another with --monitor HOST:PORT, or --monitor off"
    )]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The token file could not be written or read.
    #[error("cannot keep the monitor's token in {dir}: {source}")]
    TokenFile {
        /// The folder.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// No token file for that address.
    #[error(
        "no driver's monitor token for {addr} in {dir}; is a gantry drive running here with --monitor {addr}?"
    )]
    NoToken {
        /// The address.
        addr: String,
        /// Where it was looked for.
        dir: String,
    },
    /// The monitor did not answer or refused.
    #[error("the monitor at {addr} {what}")]
    Refused {
        /// The address.
        addr: String,
        /// What happened.
        what: String,
    },
}

/// A bound monitor, not yet serving.
#[derive(Debug)]
pub struct Monitor {
    listener: TcpListener,
    addr: SocketAddr,
    token: TokenFile,
}

impl Monitor {
    /// Listens on `addr` (`HOST:PORT`; port 0 picks one) and writes its
    /// token file in `token_dir`.
    pub async fn bind(addr: &str, token_dir: &Path) -> Result<Monitor, MonitorError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MonitorError::Bind {
                addr: addr.to_owned(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| MonitorError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
        let token =
            TokenFile::create(token_dir, addr).map_err(|source| MonitorError::TokenFile {
                dir: token_dir.display().to_string(),
                source,
            })?;
        Ok(Monitor {
            listener,
            addr,
            token,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its page's address, e.g. `http://127.0.0.1:8666`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until `stop`; `/kill` with the token cancels `kill`. The task
    /// is tracked by `tracker`; the token file goes when it ends.
    pub fn spawn(
        self,
        board: Arc<Mutex<Board>>,
        kill: CancellationToken,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) {
        let connections = tracker.clone();
        tracker.spawn(async move {
            let Monitor {
                listener, token, ..
            } = self;
            let token = Arc::new(token);
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else { continue };
                let (board, kill, token) = (board.clone(), kill.clone(), token.clone());
                connections.spawn(answer(stream, board, kill, token));
            }
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    board: Arc<Mutex<Board>>,
    kill: CancellationToken,
    token: Arc<TokenFile>,
) {
    let Some(request) = http::read(&mut stream).await else {
        return Response::error(400, codes::BAD_REQUEST, "not an HTTP/1.1 request")
            .send(&mut stream)
            .await;
    };
    let response = match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.as_bytes().to_vec(),
        },
        ("GET", "/jobs") => {
            let board = board.lock().expect("board").shown();
            Response::json(200, &board)
        }
        ("POST", "/kill") => {
            let given = request.bearer.unwrap_or_default();
            if same(given.as_bytes(), token.token().as_bytes()) {
                kill.cancel();
                Response::json(
                    200,
                    &serde_json::json!({"message": "the driver is stopping"}),
                )
            } else {
                Response::error(
                    401,
                    codes::UNAUTHORIZED,
                    "POST /kill needs the monitor's token: Authorization: Bearer TOKEN (gantry drive kill ADDR sends it)",
                )
            }
        }
        (_, "/" | "/jobs" | "/kill") => Response::error(
            405,
            codes::METHOD_NOT_ALLOWED,
            "GET / and GET /jobs read, POST /kill stops the driver",
        ),
        _ => Response::error(
            404,
            codes::NO_SUCH_ROUTE,
            "no such page; the monitor has GET /, GET /jobs and POST /kill",
        ),
    };
    response.send(&mut stream).await;
}

/// Compares two tokens in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// `gantry drive kill ADDR`: sends `POST /kill` with the token found in
/// `token_dir`; returns the monitor's sentence.
pub async fn kill(addr: &str, token_dir: &Path) -> Result<String, MonitorError> {
    let host = addr
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let resolved = tokio::net::lookup_host(&host)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| MonitorError::BadAddress(addr.to_owned()))?;
    let token = token::find(token_dir, resolved).ok_or_else(|| MonitorError::NoToken {
        addr: host.clone(),
        dir: token_dir.display().to_string(),
    })?;
    let refused = |what: String| MonitorError::Refused {
        addr: host.clone(),
        what,
    };
    let mut stream = TcpStream::connect(resolved).await.map_err(|e| {
        refused(format!(
            "cannot be reached: {e}; has the driver ended already?"
        ))
    })?;
    let request = format!(
        "POST /kill HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| refused(format!("closed the connection: {e}")))?;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    if head.starts_with("HTTP/1.1 200") {
        Ok(message)
    } else {
        Err(refused(format!("refused: {message}")))
    }
}

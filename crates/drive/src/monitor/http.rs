//! Just enough HTTP/1.1 for the monitor: one request per connection, read
//! with `httparse`, answered and closed. Why not a framework: axum is the
//! hub's alone, and three routes on loopback need no more than this.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a request's head may be.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// A request's method, path and bearer token.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ….
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The token of `Authorization: Bearer …`.
    pub bearer: Option<String>,
}

/// Reads one request's head (a body is not read: no route takes one).
/// `None` when the client sent no valid request in time.
pub async fn read(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::with_capacity(1024);
    let read = async {
        loop {
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buffer) {
                Ok(httparse::Status::Complete(_)) => {
                    let bearer = request
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(|t| t.trim().to_owned());
                    let target = request.path.unwrap_or("/");
                    return Some(Request {
                        method: request.method.unwrap_or("").to_owned(),
                        path: target.split('?').next().unwrap_or("/").to_owned(),
                        bearer,
                    });
                }
                Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD => continue,
                _ => return None,
            }
        }
    };
    tokio::time::timeout(READ_LIMIT, read).await.ok().flatten()
}

/// An answer: status, content type, body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).expect("answers serialize"),
        }
    }

    /// An error as the hub says them: a stable code and a sentence.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({"code": code, "message": message}),
        )
    }

    /// Writes it and closes the connection.
    pub async fn send(self, stream: &mut TcpStream) {
        let reason = match self.status {
            200 => "OK",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Bad Request",
        };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
             Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'\r\n\
             X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&self.body).await;
        let _ = stream.shutdown().await;
    }
}

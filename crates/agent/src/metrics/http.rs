//! Just enough HTTP/1.1 for the metrics page: one request per connection,
//! its head read with `httparse`, answered and closed. `gantry drive`'s
//! monitor answers its page the same way (crates/drive/src/monitor/http.rs);
//! the two are not shared because neither crate may link the other, and
//! this one answers text to a scraper, not a page to a browser.
//!
//! Plain http and no token: the address should be loopback or a network
//! the person trusts, and the agent warns when it is not loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gantry_protocol::exposition::CONTENT_TYPE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The most a request's head may be.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Binds `address` for the page, warning when it is reachable from other
/// machines; the error says what to change.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(address).await.map_err(|error| {
        format!(
            "cannot serve metrics on {address} (--metrics-listen): {error}; \
             pick a free port, or leave --metrics-listen out"
        )
    })?;
    if !address.ip().is_loopback() {
        tracing::warn!(
            %address,
            "the metrics page is served over plain http without a token on an address other \
             machines can reach; use 127.0.0.1 unless this network is trusted"
        );
    }
    Ok(listener)
}

/// Answers `GET /metrics` with `page()` on `listener` until `stop` is
/// cancelled; every connection's task is tracked and awaited.
pub async fn serve(
    listener: TcpListener,
    page: Arc<dyn Fn() -> String + Send + Sync>,
    stop: CancellationToken,
) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving metrics at http://{address}/metrics");
    }
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::debug!(%error, "a metrics connection failed to open");
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let page = page.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            tokio::select! {
                _ = answer(stream, page) => {}
                _ = stop.cancelled() => {}
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Reads one request and answers it.
async fn answer(mut stream: TcpStream, page: Arc<dyn Fn() -> String + Send + Sync>) {
    let Some((method, path)) = read(&mut stream).await else {
        send(&mut stream, 400, "text/plain", b"not an HTTP request\n").await;
        return;
    };
    match (method.as_str(), path.as_str()) {
        ("GET" | "HEAD", "/metrics") => {
            let text = page();
            let body: &[u8] = if method == "HEAD" {
                b""
            } else {
                text.as_bytes()
            };
            send(&mut stream, 200, CONTENT_TYPE, body).await;
        }
        (_, "/metrics") => {
            send(&mut stream, 405, "text/plain", b"only GET reads /metrics\n").await;
        }
        _ => {
            send(
                &mut stream,
                404,
                "text/plain",
                b"no such page; the agent's metrics are at /metrics\n",
            )
            .await;
        }
    }
}

/// The request's method and path (without its query); `None` when no
/// valid request head came in time.
async fn read(stream: &mut TcpStream) -> Option<(String, String)> {
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
                    let target = request.path.unwrap_or("/");
                    return Some((
                        request.method.unwrap_or("").to_owned(),
                        target.split('?').next().unwrap_or("/").to_owned(),
                    ));
                }
                Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD => continue,
                _ => return None,
            }
        }
    };
    tokio::time::timeout(READ_LIMIT, read).await.ok().flatten()
}

/// Writes an answer and closes the connection.
async fn send(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn answers_metrics_and_refuses_the_rest() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(|| "gantry_agent_up 1\n".to_owned()),
            stop.clone(),
        ));
        let answer = get(address, "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains(CONTENT_TYPE), "{answer}");
        assert!(answer.ends_with("\r\n\r\ngantry_agent_up 1\n"), "{answer}");
        let answer = get(address, "POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        let answer = get(address, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        let answer = get(address, "nonsense\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        stop.cancel();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_taken_port_is_a_sentence() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let error = bind(taken.local_addr().unwrap()).await.unwrap_err();
        assert!(error.contains("--metrics-listen"), "{error}");
    }
}

//! The shipper: sends a task's spool to the hub by byte offset, from the
//! offset the hub acknowledged, until the spool is complete and every byte
//! is acknowledged.
//!
//! It starts at offset 0 and learns the hub's offset from its first answer:
//! the hub skips bytes it holds and answers a gap with the offset it wants,
//! so a task picked up after a restart resends at most one append of bytes
//! the hub already has.
//!
//! A task that ran before (released by a yielding node, now run again) has a
//! fresh spool but the hub keeps its earlier log: the spool's byte 0 is the
//! hub's byte `base` (the task's `log_size` when it was assigned), so the
//! new run continues the log, no byte lost or doubled.

use std::sync::Arc;
use std::time::Duration;

use gantry_client::{ClientError, HubClient};
use gantry_protocol::wire::codes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Tail;
use crate::backoff::Backoff;
use crate::metrics::ShipGauge;

/// How the shipper paces itself.
#[derive(Debug, Clone, Copy)]
pub struct ShipPace {
    /// The largest append, in bytes (the hub's limit).
    pub max_append: u64,
    /// How long to gather more output before sending.
    pub gather: Duration,
}

impl Default for ShipPace {
    fn default() -> Self {
        ShipPace {
            max_append: 1 << 20,
            gather: Duration::from_millis(100),
        }
    }
}

/// How shipping a spool ended, and how many of its bytes the hub holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shipped {
    /// The spool is complete and the hub acknowledged all of it.
    Whole {
        /// The bytes the hub holds.
        acked: u64,
    },
    /// The agent is stopping and the hub did not take the rest at once: the
    /// rest waits on disk for the next start.
    Stopped {
        /// The bytes the hub holds.
        acked: u64,
    },
    /// The hub refused the log for good (the task is gone from it), or the
    /// spool could not be read: the hub gets no more of it from this run.
    GaveUp {
        /// The bytes the hub holds.
        acked: u64,
    },
}

impl Shipped {
    /// The bytes the hub acknowledged.
    pub fn acked(self) -> u64 {
        match self {
            Shipped::Whole { acked } | Shipped::Stopped { acked } | Shipped::GaveUp { acked } => {
                acked
            }
        }
    }
}

/// Ships the spool that `tail` reads to the hub, from the tail's offset,
/// until the spool is complete and every byte is acknowledged. The spool's
/// byte 0 is the hub's byte `base`; offsets in [`Shipped`] are the spool's.
///
/// Network failures and 5xx are retried with jittered backoff, forever:
/// a log is never given up on while the agent runs. A 4xx other than a gap
/// means the hub will never take these bytes (the task is gone); shipping ends.
///
/// Once `stop` is cancelled (the agent is stopping) the shipper no longer
/// waits between tries: it goes on sending what the spool holds and gets
/// while the hub takes it, and ends at the first failure
/// ([`Shipped::Stopped`]), leaving the rest on disk for the next start. So a
/// task stopped with the agent still gets its last bytes to a hub that
/// answers, and a hub that does not answer never holds the agent up.
///
/// `gauge` tells the agent's metrics how far behind the hub is.
#[allow(clippy::too_many_arguments)] // each is one thing the shipper needs; a struct would only rename them
pub async fn ship(
    hub: HubClient,
    task_id: String,
    mut tail: Tail,
    base: u64,
    pace: ShipPace,
    stop: CancellationToken,
    hub_back: Arc<Notify>,
    gauge: ShipGauge,
) -> Shipped {
    let mut acked = tail.offset();
    let mut backoff = Backoff::default();
    loop {
        let stopping = stop.is_cancelled();
        tail.seek(acked);
        let bytes = match tail.read_now(pace.max_append as usize).await {
            Ok(bytes) => bytes,
            Err(error) if stopping => {
                tracing::warn!(%error, task = %task_id, "cannot read the task's spool; the rest waits for the next start");
                return Shipped::Stopped { acked };
            }
            Err(error) => {
                // The disk hiccuped; the bytes are still there to be read, so try again.
                tracing::warn!(%error, task = %task_id, "cannot read the task's spool; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff.wait()) => {}
                    _ = stop.cancelled() => {}
                }
                continue;
            }
        };
        if bytes.is_empty() {
            gauge.caught_up();
            let more = tokio::select! {
                more = tail.wait() => more,
                // Look again, now as a shipper that no longer waits between tries.
                _ = stop.cancelled(), if !stopping => continue,
            };
            if !more {
                return Shipped::Whole { acked };
            }
            if !stopping && !tail.is_complete() {
                // Let more output gather, so a flood of small writes goes in few requests.
                tokio::select! {
                    _ = tokio::time::sleep(pace.gather) => {}
                    _ = stop.cancelled() => {}
                }
            }
            continue;
        }
        gauge.behind();
        // Where the hub's copy ends now, when it said; the gauge follows it.
        acked = match hub.append_log(&task_id, base + acked, bytes).await {
            Ok(ack) => {
                backoff.reset();
                ack.committed.saturating_sub(base)
            }
            Err(ClientError::Api { body, .. }) if body.code == codes::LOG_GAP => {
                // The hub holds less (or more) than we thought: continue from its offset.
                let size = tail.len().await.unwrap_or(acked);
                body.committed.unwrap_or(0).saturating_sub(base).min(size)
            }
            Err(error) if error.is_transient() && stopping => {
                tracing::info!(%error, task = %task_id, "the hub did not take the task's log before the agent stopped; the rest waits for the next start");
                return Shipped::Stopped { acked };
            }
            Err(error) if error.is_transient() => {
                tracing::debug!(%error, "log shipping failed; retrying");
                // The backoff grows to 30 s; when the agent sees the hub
                // again the backlog goes at once rather than after the wait.
                tokio::select! {
                    _ = tokio::time::sleep(backoff.wait()) => {}
                    _ = hub_back.notified() => backoff.reset(),
                    _ = stop.cancelled() => {}
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, task = %task_id, "the hub refused the task's log; shipping stops");
                return Shipped::GaveUp { acked };
            }
        };
        gauge.acked(acked);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use gantry_client::Token;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::watch;

    use super::*;
    use crate::executor::Stream;
    use crate::spool::Spool;

    /// A hub that only takes log appends: it keeps the bytes (skipping those
    /// it holds) and answers 503 while `up` is false.
    #[derive(Default)]
    struct LogHub {
        log: Mutex<Vec<u8>>,
        up: std::sync::atomic::AtomicBool,
    }

    impl LogHub {
        async fn serve(self: Arc<Self>) -> HubClient {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(self.clone().answer(stream));
                }
            });
            HubClient::new(&format!("http://{address}"), Token::new("t")).unwrap()
        }

        /// Answers each request on one connection.
        async fn answer(self: Arc<Self>, mut stream: tokio::net::TcpStream) {
            let mut buffer = Vec::new();
            loop {
                let head_end = loop {
                    if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                    let mut more = [0u8; 4096];
                    match stream.read(&mut more).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&more[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
                let number_after = |key: &str| -> u64 {
                    head.split(key)
                        .nth(1)
                        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
                        .and_then(|digits: String| digits.parse().ok())
                        .unwrap_or(0)
                };
                let (offset, length) = (number_after("offset="), number_after("content-length: "));
                while buffer.len() < head_end + length as usize {
                    let mut more = [0u8; 4096];
                    match stream.read(&mut more).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&more[..n]),
                    }
                }
                let body: Vec<u8> = buffer
                    .drain(..head_end + length as usize)
                    .skip(head_end)
                    .collect();
                let (status, answer) = if self.up.load(std::sync::atomic::Ordering::SeqCst) {
                    let mut log = self.log.lock().unwrap();
                    let held = log.len() as u64;
                    let fresh = (held - offset.min(held)) as usize;
                    if offset <= held && fresh < body.len() {
                        log.extend_from_slice(&body[fresh..]);
                    }
                    ("200 OK", format!("{{\"committed\":{}}}", log.len()))
                } else {
                    (
                        "503 Service Unavailable",
                        format!(r#"{{"code":"{}","message":"down"}}"#, codes::UNAVAILABLE),
                    )
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }

    #[tokio::test]
    async fn after_the_agent_stops_the_shipper_sends_what_the_hub_takes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(LogHub::default());
        hub.up.store(true, std::sync::atomic::Ordering::SeqCst);
        let client = hub.clone().serve().await;
        let mut spool = Spool::create(dir.path(), watch::channel(0).0)
            .await
            .unwrap();
        spool.append(Stream::Stdout, b"one\n").await.unwrap();
        let stop = CancellationToken::new();
        let shipper = tokio::spawn(ship(
            client,
            "t".into(),
            spool.tail(0).await.unwrap(),
            0,
            ShipPace::default(),
            stop.clone(),
            Arc::default(),
            ShipGauge::unwatched(),
        ));
        while hub.log.lock().unwrap().len() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The agent stops; the task still writes its last words, then ends.
        stop.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
        spool.append(Stream::Stderr, b"terminated\n").await.unwrap();
        drop(spool);
        let shipped = tokio::time::timeout(Duration::from_secs(10), shipper)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(shipped, Shipped::Whole { acked: 15 });
        assert_eq!(*hub.log.lock().unwrap(), b"one\nterminated\n");
    }

    #[tokio::test]
    async fn after_the_agent_stops_a_hub_that_fails_ends_shipping_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(LogHub::default());
        let client = hub.clone().serve().await;
        let mut spool = Spool::create(dir.path(), watch::channel(0).0)
            .await
            .unwrap();
        spool
            .append(Stream::Stdout, b"lost for now\n")
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let shipper = tokio::spawn(ship(
            client,
            "t".into(),
            spool.tail(0).await.unwrap(),
            0,
            ShipPace::default(),
            stop.clone(),
            Arc::default(),
            ShipGauge::unwatched(),
        ));
        // Down: the shipper waits out its backoff and tries again, until the agent stops.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !shipper.is_finished(),
            "a running agent never gives up on a log"
        );
        stop.cancel();
        let shipped = tokio::time::timeout(Duration::from_secs(5), shipper)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(shipped, Shipped::Stopped { acked: 0 });
        drop(spool);
    }

    #[tokio::test]
    async fn the_gauge_shows_what_the_hub_lacks_while_it_is_down() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(LogHub::default());
        let client = hub.clone().serve().await;
        let mut spool = Spool::create(dir.path(), watch::channel(0).0)
            .await
            .unwrap();
        spool
            .append(Stream::Stdout, b"waits on disk\n")
            .await
            .unwrap();
        let metrics = Arc::new(crate::metrics::AgentMetrics::default());
        let shipper = tokio::spawn(ship(
            client,
            "t".into(),
            spool.tail(0).await.unwrap(),
            0,
            ShipPace::default(),
            CancellationToken::new(),
            Arc::default(),
            metrics.shipping(spool.watch()),
        ));
        // The hub answers 503: the bytes wait, and the lag grows.
        let behind = loop {
            let (bytes, lag) = metrics.ship_backlog();
            if lag > Duration::ZERO {
                break (bytes, lag);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(behind.0, 14);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(metrics.ship_backlog().1 > behind.1);
        spool.append(Stream::Stdout, b"more\n").await.unwrap();
        assert_eq!(metrics.ship_backlog().0, 19);
        // Back up: everything goes, and the gauge says so, then leaves with the shipper.
        hub.up.store(true, std::sync::atomic::Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while metrics.ship_backlog() != (0, Duration::ZERO) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                metrics.ship_backlog()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*hub.log.lock().unwrap(), b"waits on disk\nmore\n");
        drop(spool);
        shipper.await.unwrap();
        assert_eq!(metrics.ship_backlog(), (0, Duration::ZERO));
    }

    #[tokio::test]
    async fn a_run_after_a_release_continues_the_hubs_log_at_its_base() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(LogHub::default());
        hub.up.store(true, std::sync::atomic::Ordering::SeqCst);
        // The first run's log, as the hub kept it.
        hub.log.lock().unwrap().extend_from_slice(b"first run\n");
        let client = hub.clone().serve().await;
        let mut spool = Spool::create(dir.path(), watch::channel(0).0)
            .await
            .unwrap();
        spool.append(Stream::Stdout, b"second run\n").await.unwrap();
        let tail = spool.tail(0).await.unwrap();
        drop(spool);
        let shipped = ship(
            client,
            "t".into(),
            tail,
            10,
            ShipPace::default(),
            CancellationToken::new(),
            Arc::default(),
            ShipGauge::unwatched(),
        )
        .await;
        // Offsets in `Shipped` are the spool's own.
        assert_eq!(shipped, Shipped::Whole { acked: 11 });
        assert_eq!(*hub.log.lock().unwrap(), b"first run\nsecond run\n");
    }
}

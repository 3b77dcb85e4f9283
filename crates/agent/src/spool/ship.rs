//! The shipper: sends a task's spool to the hub by byte offset, from the
//! offset the hub acknowledged, until the spool is complete and every byte
//! is acknowledged.
//!
//! It starts at offset 0 and learns the hub's offset from its first answer:
//! the hub skips bytes it holds and answers a gap with the offset it wants,
//! so a task picked up after a restart resends at most one append of bytes
//! the hub already has.

use std::sync::Arc;
use std::time::Duration;

use gantry_client::{ClientError, HubClient};
use gantry_protocol::wire::codes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Tail;
use crate::backoff::Backoff;

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
    /// The agent is stopping: the rest waits on disk for its next start.
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
/// until the spool is complete and every byte is acknowledged, or `stop` is
/// cancelled.
///
/// Network failures and 5xx are retried with jittered backoff, forever:
/// a log is never given up on while the agent runs. A 4xx other than a gap
/// means the hub will never take these bytes (the task is gone); shipping ends.
pub async fn ship(
    hub: HubClient,
    task_id: String,
    mut tail: Tail,
    pace: ShipPace,
    stop: CancellationToken,
    hub_back: Arc<Notify>,
) -> Shipped {
    let mut acked = tail.offset();
    let mut backoff = Backoff::default();
    loop {
        tail.seek(acked);
        let bytes = match tail.read_now(pace.max_append as usize).await {
            Ok(bytes) => bytes,
            Err(error) => {
                // The disk hiccuped; the bytes are still there to be read, so try again.
                tracing::warn!(%error, task = %task_id, "cannot read the task's spool; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff.wait()) => {}
                    _ = stop.cancelled() => return Shipped::Stopped { acked },
                }
                continue;
            }
        };
        if bytes.is_empty() {
            let more = tokio::select! {
                more = tail.wait() => more,
                _ = stop.cancelled() => return Shipped::Stopped { acked },
            };
            if !more {
                return Shipped::Whole { acked };
            }
            if !tail.is_complete() {
                // Let more output gather, so a flood of small writes goes in few requests.
                tokio::select! {
                    _ = tokio::time::sleep(pace.gather) => {}
                    _ = stop.cancelled() => return Shipped::Stopped { acked },
                }
            }
            continue;
        }
        match hub.append_log(&task_id, acked, bytes).await {
            Ok(ack) => {
                acked = ack.committed;
                backoff.reset();
            }
            Err(ClientError::Api { body, .. }) if body.code == codes::LOG_GAP => {
                // The hub holds less (or more) than we thought: continue from its offset.
                let size = tail.len().await.unwrap_or(acked);
                acked = body.committed.unwrap_or(0).min(size);
            }
            Err(error) if error.is_transient() => {
                tracing::debug!(%error, "log shipping failed; retrying");
                // The backoff grows to 30 s; when the agent sees the hub
                // again the backlog goes at once rather than after the wait.
                tokio::select! {
                    _ = tokio::time::sleep(backoff.wait()) => {}
                    _ = hub_back.notified() => backoff.reset(),
                    _ = stop.cancelled() => return Shipped::Stopped { acked },
                }
            }
            Err(error) => {
                tracing::warn!(%error, task = %task_id, "the hub refused the task's log; shipping stops");
                return Shipped::GaveUp { acked };
            }
        }
    }
}

//! How far behind the logs' shippers are: for each log being shipped, the
//! spool's length (which the spool announces), the bytes the hub
//! acknowledged, and since when the shipper has had bytes to send.
//!
//! The shipper updates its [`ShipGauge`]; the page adds them up. A gauge
//! counts from its making until it is dropped (the shipper ended).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::AgentMetrics;

/// One log's shipping, as its shipper last said.
#[derive(Debug)]
struct ShipState {
    /// The spool's length; `None` for a gauge nobody reads.
    length: Option<watch::Receiver<u64>>,
    acked: AtomicU64,
    /// Since when the shipper has bytes the hub lacks; `None`: caught up.
    behind_since: Mutex<Option<Instant>>,
}

/// The logs being shipped now.
#[derive(Debug, Default)]
pub(super) struct Shipping {
    next: AtomicU64,
    logs: Mutex<BTreeMap<u64, Arc<ShipState>>>,
}

impl Shipping {
    /// A gauge counted in `metrics` until dropped.
    pub(super) fn gauge(metrics: &Arc<AgentMetrics>, length: watch::Receiver<u64>) -> ShipGauge {
        let state = Arc::new(ShipState {
            length: Some(length),
            acked: AtomicU64::new(0),
            behind_since: Mutex::new(None),
        });
        let key = metrics.shipping.next.fetch_add(1, Ordering::Relaxed);
        metrics
            .shipping
            .logs
            .lock()
            .expect("shipping gauges poisoned")
            .insert(key, state.clone());
        ShipGauge {
            state,
            counted: Some((metrics.clone(), key)),
        }
    }

    /// The bytes the hub lacks over every log, and how long the log
    /// furthest behind has been behind.
    pub(super) fn backlog(&self) -> (u64, Duration) {
        let logs = self.logs.lock().expect("shipping gauges poisoned");
        let mut bytes = 0;
        let mut lag = Duration::ZERO;
        for state in logs.values() {
            let length = state.length.as_ref().map_or(0, |length| *length.borrow());
            bytes += length.saturating_sub(state.acked.load(Ordering::Relaxed));
            if let Some(since) = *state.behind_since.lock().expect("ship state poisoned") {
                lag = lag.max(since.elapsed());
            }
        }
        (bytes, lag)
    }
}

/// What one shipper tells the metrics about its log.
#[derive(Debug)]
pub struct ShipGauge {
    state: Arc<ShipState>,
    /// Where it is counted, and its key there; `None`: nowhere.
    counted: Option<(Arc<AgentMetrics>, u64)>,
}

impl ShipGauge {
    /// A gauge counted nowhere, for a shipper nobody measures.
    pub fn unwatched() -> ShipGauge {
        ShipGauge {
            state: Arc::new(ShipState {
                length: None,
                acked: AtomicU64::new(0),
                behind_since: Mutex::new(None),
            }),
            counted: None,
        }
    }

    /// The hub holds the spool's bytes up to `acked`.
    pub fn acked(&self, acked: u64) {
        self.state.acked.store(acked, Ordering::Relaxed);
    }

    /// The shipper has bytes the hub lacks (it is behind since now, unless
    /// it was already).
    pub fn behind(&self) {
        let mut since = self.state.behind_since.lock().expect("ship state poisoned");
        since.get_or_insert_with(Instant::now);
    }

    /// The shipper sent all the spool holds.
    pub fn caught_up(&self) {
        *self.state.behind_since.lock().expect("ship state poisoned") = None;
    }
}

impl Drop for ShipGauge {
    fn drop(&mut self) {
        if let Some((metrics, key)) = &self.counted {
            metrics
                .shipping
                .logs
                .lock()
                .expect("shipping gauges poisoned")
                .remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_what_the_hub_lacks_until_the_shipper_ends() {
        let metrics = Arc::new(AgentMetrics::default());
        let (length, watched) = watch::channel(0u64);
        let gauge = metrics.shipping(watched);
        length.send_replace(100);
        gauge.behind();
        gauge.acked(40);
        let (bytes, lag) = metrics.shipping.backlog();
        assert_eq!(bytes, 60);
        std::thread::sleep(Duration::from_millis(20));
        assert!(metrics.shipping.backlog().1 > lag);
        gauge.acked(100);
        gauge.caught_up();
        assert_eq!(metrics.shipping.backlog(), (0, Duration::ZERO));
        length.send_replace(150);
        assert_eq!(metrics.shipping.backlog().0, 50);
        drop(gauge);
        assert_eq!(metrics.shipping.backlog(), (0, Duration::ZERO));
    }
}

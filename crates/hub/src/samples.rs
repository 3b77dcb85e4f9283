//! The last hour of each node's heartbeat figures, kept in the hub's memory
//! for the console's charts (`GET /v1/nodes/{node}/metrics`).
//!
//! Why memory and not the database: the figures are worth something only
//! while fresh, a write per heartbeat per node would be most of the hub's
//! database traffic, and a restarted hub refills them within minutes. The
//! cost is bounded: per node a ring of at most [`MAX_SAMPLES`], each sample
//! older than [`KEPT_FOR_MS`] dropped as new ones come, and a removed node's
//! ring dropped with it. With several hubs on one PostgreSQL, each keeps the
//! figures of the heartbeats it received.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use gantry_protocol::console_wire::NodeSample;

/// How long figures are kept: one hour, in milliseconds.
pub const KEPT_FOR_MS: i64 = 60 * 60 * 1000;

/// The most samples kept per node, whatever its heartbeat rate: one a
/// second for the hour (the default heartbeat is one per 10 s).
pub const MAX_SAMPLES: usize = 3600;

/// Each node's recent figures, by node id.
#[derive(Debug, Default)]
pub struct Samples {
    /// A std mutex: nothing awaits while holding it.
    rings: Mutex<HashMap<String, VecDeque<Arc<NodeSample>>>>,
}

impl Samples {
    /// Keeps `sample` for `node`, dropping what is older than an hour before
    /// `sample.at` and the oldest past [`MAX_SAMPLES`].
    pub fn record(&self, node: &str, sample: Arc<NodeSample>) {
        let mut rings = self.rings.lock().expect("samples poisoned");
        let ring = rings.entry(node.to_owned()).or_default();
        let now = sample.at;
        ring.push_back(sample);
        expire(ring, now);
        while ring.len() > MAX_SAMPLES {
            ring.pop_front();
        }
    }

    /// The samples of `node` from the last hour before `now`, oldest first.
    pub fn recent(&self, node: &str, now: i64) -> Vec<NodeSample> {
        let mut rings = self.rings.lock().expect("samples poisoned");
        let Some(ring) = rings.get_mut(node) else {
            return Vec::new();
        };
        expire(ring, now);
        ring.iter()
            .map(|sample| NodeSample::clone(sample))
            .collect()
    }

    /// Drops a removed node's figures.
    pub fn forget(&self, node: &str) {
        self.rings.lock().expect("samples poisoned").remove(node);
    }
}

/// Drops the samples older than [`KEPT_FOR_MS`] before `now`.
fn expire(ring: &mut VecDeque<Arc<NodeSample>>, now: i64) {
    while ring
        .front()
        .is_some_and(|oldest| oldest.at < now - KEPT_FOR_MS)
    {
        ring.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: i64) -> Arc<NodeSample> {
        Arc::new(NodeSample {
            at,
            cpu_percent: 1.0,
            memory_used_bytes: 1,
            memory_total_bytes: 2,
            disk_free_bytes: 3,
            disk_total_bytes: 4,
            gpus: Vec::new(),
        })
    }

    fn times(samples: &[NodeSample]) -> Vec<i64> {
        samples.iter().map(|s| s.at).collect()
    }

    #[test]
    fn an_hour_is_kept_oldest_first() {
        let samples = Samples::default();
        for at in [0, 1_000, KEPT_FOR_MS, KEPT_FOR_MS + 1_000] {
            samples.record("a", sample(at));
        }
        // At KEPT_FOR_MS + 1 s, the sample at 0 is more than an hour old;
        // the one at 1 s is exactly an hour old and stays.
        assert_eq!(
            times(&samples.recent("a", KEPT_FOR_MS + 1_000)),
            vec![1_000, KEPT_FOR_MS, KEPT_FOR_MS + 1_000]
        );
        // Read later with no new heartbeat, old figures are gone too.
        assert_eq!(
            times(&samples.recent("a", 2 * KEPT_FOR_MS + 500)),
            vec![KEPT_FOR_MS + 1_000]
        );
        assert!(samples.recent("nobody", 0).is_empty());
    }

    #[test]
    fn a_fast_heartbeat_is_bounded_and_nodes_are_apart() {
        let samples = Samples::default();
        for i in 0..(MAX_SAMPLES as i64 + 50) {
            samples.record("fast", sample(i * 10));
        }
        samples.record("other", sample(5));
        let kept = samples.recent("fast", MAX_SAMPLES as i64 * 10);
        assert_eq!(kept.len(), MAX_SAMPLES);
        assert_eq!(kept[0].at, 500, "the oldest went first");
        assert_eq!(times(&samples.recent("other", 5)), vec![5]);
        samples.forget("fast");
        assert!(samples.recent("fast", 0).is_empty());
        assert_eq!(samples.recent("other", 5).len(), 1);
    }
}

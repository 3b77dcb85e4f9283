//! The relay for outputs kept on nodes: a download asks, the node answers
//! with the file, and the hub pipes the node's upload straight into the
//! waiting download's response. Nothing is written to the hub's disk, and
//! the relay holds at most a few chunks in memory per transfer.
//!
//! A download files a request ([`Relay::ask`]) and waits for its answer;
//! the node's fetch long-poll takes the requests filed for it
//! ([`Relay::take_for`]); the node then either streams the file
//! ([`Relay::begin`] hands the download a channel the upload's chunks go
//! through) or says why it cannot ([`Relay::fail`]). When the download goes
//! away, its request is withdrawn ([`Asked`]'s drop) or the channel closes,
//! and the node's upload is answered with an error, which ends it.
//!
//! Architecture invariant: node-kept outputs are never stored on the hub;
//! the relay is the only path their bytes take, and it holds them only in
//! its bounded channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gantry_protocol::wire::FetchRequest;
use tokio::sync::{mpsc, oneshot, watch};

/// The chunks of a relayed file, or the error that ended it.
pub type Chunk = Result<Bytes, std::io::Error>;

/// How many chunks wait between the node's upload and the download.
const CHANNEL_CHUNKS: usize = 8;

/// What a node answered a request with.
#[derive(Debug)]
pub enum Answer {
    /// The file's chunks, as the node sends them.
    Bytes(mpsc::Receiver<Chunk>),
    /// Why the node cannot send it.
    Failed(String),
}

/// A request waiting for its node.
#[derive(Debug)]
struct Pending {
    node_id: String,
    request: FetchRequest,
    /// Whether the node's long-poll has taken it already.
    taken: bool,
    answer: oneshot::Sender<Answer>,
}

/// The requests waiting for nodes; cheap to clone.
#[derive(Debug, Clone)]
pub struct Relay {
    pending: Arc<Mutex<HashMap<String, Pending>>>,
    /// Bumped on every new request, so nodes' long-polls look again.
    filed: Arc<watch::Sender<u64>>,
}

impl Default for Relay {
    fn default() -> Self {
        Relay {
            pending: Arc::default(),
            filed: Arc::new(watch::channel(0).0),
        }
    }
}

/// A filed request, withdrawn when dropped (the download went away).
#[derive(Debug)]
pub struct Asked {
    relay: Relay,
    id: String,
    /// The node's answer.
    pub answer: oneshot::Receiver<Answer>,
}

impl Drop for Asked {
    fn drop(&mut self) {
        self.relay.lock().remove(&self.id);
    }
}

/// Why a node's upload cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No such request for this node (withdrawn, answered, or another node's).
    Unknown,
    /// The download went away before the node began.
    Gone,
}

impl Relay {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files a request for `node_id` and wakes its long-poll.
    pub fn ask(&self, node_id: &str, task: &str, path: &str, sha256: &str) -> Asked {
        let id = uuid::Uuid::now_v7().to_string();
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            id.clone(),
            Pending {
                node_id: node_id.to_owned(),
                request: FetchRequest {
                    id: id.clone(),
                    task: task.to_owned(),
                    path: path.to_owned(),
                    sha256: sha256.to_owned(),
                },
                taken: false,
                answer: tx,
            },
        );
        self.filed.send_modify(|n| *n += 1);
        Asked {
            relay: self.clone(),
            id,
            answer: rx,
        }
    }

    /// Watches for new requests.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.filed.subscribe()
    }

    /// The requests for `node_id` not taken yet, now marked taken.
    pub fn take_for(&self, node_id: &str) -> Vec<FetchRequest> {
        let mut pending = self.lock();
        let mut taken: Vec<FetchRequest> = pending
            .values_mut()
            .filter(|p| p.node_id == node_id && !p.taken)
            .map(|p| {
                p.taken = true;
                p.request.clone()
            })
            .collect();
        taken.sort_by(|a, b| a.id.cmp(&b.id));
        taken
    }

    /// The node begins sending request `id`: the sender its chunks go into.
    pub fn begin(&self, node_id: &str, id: &str) -> Result<mpsc::Sender<Chunk>, Refused> {
        let pending = self.claim(node_id, id)?;
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        pending
            .answer
            .send(Answer::Bytes(rx))
            .map_err(|_| Refused::Gone)?;
        Ok(tx)
    }

    /// The node cannot send request `id`, for `reason`.
    pub fn fail(&self, node_id: &str, id: &str, reason: String) -> Result<(), Refused> {
        let pending = self.claim(node_id, id)?;
        pending
            .answer
            .send(Answer::Failed(reason))
            .map_err(|_| Refused::Gone)
    }

    /// Removes request `id` if it is `node_id`'s.
    fn claim(&self, node_id: &str, id: &str) -> Result<Pending, Refused> {
        let mut pending = self.lock();
        match pending.get(id) {
            Some(p) if p.node_id == node_id => Ok(pending.remove(id).expect("just found")),
            _ => Err(Refused::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_reaches_its_node_only_and_goes_when_dropped() {
        let relay = Relay::default();
        let asked = relay.ask("n1", "t1", "out/a", "x");
        assert!(relay.take_for("n2").is_empty());
        let taken = relay.take_for("n1");
        assert_eq!(taken.len(), 1);
        assert!(relay.take_for("n1").is_empty(), "taken once");
        assert_eq!(
            relay.begin("n2", &taken[0].id).unwrap_err(),
            Refused::Unknown
        );
        let tx = relay.begin("n1", &taken[0].id).unwrap();
        tx.send(Ok(Bytes::from_static(b"hi"))).await.unwrap();
        drop(tx);
        let mut asked = asked;
        let Ok(Answer::Bytes(mut rx)) = (&mut asked.answer).await else {
            panic!("bytes expected")
        };
        assert_eq!(rx.recv().await.unwrap().unwrap(), Bytes::from_static(b"hi"));
        let gone = relay.ask("n1", "t1", "out/b", "y");
        let id = relay.take_for("n1")[0].id.clone();
        drop(gone);
        assert_eq!(relay.begin("n1", &id).unwrap_err(), Refused::Unknown);
    }
}

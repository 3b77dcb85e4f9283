//! Wake-ups for waiting requests: long-polls for work, for requests, and log
//! followers of a task; and the broadcast of what people watch change
//! ([`Happening`]: nodes, tasks, node figures), which the console's event
//! stream (`GET /v1/events`) reads.
//!
//! The broadcast is a bounded ring: sending never waits, and a subscriber
//! that falls behind loses the oldest happenings and is told it lagged (it
//! then asks its reader to refresh everything), so a slow browser never
//! slows the hub.
//!
//! A waiter subscribes *before* it reads the database, so a change that lands
//! between its read and its wait still wakes it.
//!
//! Pollers for work are woken one at a time: a queued task rings the bell of
//! the longest-waiting node whose labels match, not every poller. With a
//! thousand pollers, waking them all made every submit cost a thousand queries.
//! Pollers live in one hub process; a task queued through another hub on the
//! same PostgreSQL reaches them when their wait ends and they poll again.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gantry_protocol::console_wire::NodeSample;
use tokio::sync::{Notify, broadcast, watch};

/// How many happenings a subscriber may fall behind before it lags.
const LIVE_BACKLOG: usize = 1024;

/// Something people watch that changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// Nodes were added, changed, removed, came online or went offline,
    /// paused or drained.
    Nodes,
    /// A task was submitted or changed (its state, a request, its outputs).
    Task(String),
    /// A node's heartbeat brought its figures.
    Sample {
        /// The node's id.
        node: String,
        /// Its figures.
        sample: Arc<NodeSample>,
    },
}

/// The hub's signals.
#[derive(Debug)]
pub struct Signals {
    /// Nodes long-polling for work, oldest first.
    pollers: Mutex<VecDeque<Poller>>,
    next_poller: AtomicU64,
    /// Bumped when a request for a node (cancel, pause, resume) is recorded.
    commands: watch::Sender<u64>,
    /// Per-task senders, held weakly: a task nobody follows costs nothing.
    /// A std mutex, since nothing awaits while holding it.
    tasks: Mutex<HashMap<String, Weak<watch::Sender<u64>>>>,
    /// What people watch, for the event stream.
    live: broadcast::Sender<Happening>,
}

#[derive(Debug)]
struct Poller {
    id: u64,
    fit: Fit,
    bell: Arc<Bell>,
}

/// What a polling node takes: its id (for tasks meant for one node), its
/// labels, whether it takes only tasks that carry a label, and what its room
/// lets it take now (nothing while it yields all its work; no GPU task while
/// it yields GPU work or has no GPU to give). Whether a GPU task's devices
/// fit is left to the claim: a heartbeat that changes the room re-fits and
/// rings the node's pollers ([`Signals::refit`]).
#[derive(Debug, Clone, Default)]
pub struct Fit {
    /// The node's id.
    pub node: String,
    /// All its labels.
    pub labels: BTreeSet<String>,
    /// It takes only tasks that carry at least one of its labels.
    pub only_labeled: bool,
    /// It takes no task now: it yields all its work.
    pub takes_nothing: bool,
    /// It may take a task that asks for GPUs.
    pub takes_gpu_tasks: bool,
}

impl Fit {
    /// What the node of `record` takes.
    pub fn of(record: &crate::db::NodeRecord) -> Fit {
        Fit {
            node: record.id.clone(),
            labels: record.labels.clone(),
            only_labeled: record.only_labeled,
            takes_nothing: record.room.takes_nothing(),
            takes_gpu_tasks: record.room.takes_gpu_tasks(),
        }
    }

    /// Whether this node may take a task with these labels meant for `target` (a node id).
    fn takes(&self, queued: &Queued) -> bool {
        queued.target.as_ref().is_none_or(|node| *node == self.node)
            && queued
                .labels
                .iter()
                .all(|label| self.labels.contains(label))
            && (!self.only_labeled || !queued.labels.is_empty())
            && !self.takes_nothing
            && (self.takes_gpu_tasks || !queued.gpus)
    }
}

/// A queued task as the pollers' line sees it.
#[derive(Debug, Clone)]
struct Queued {
    labels: Vec<String>,
    target: Option<String>,
    /// It asks for GPUs.
    gpus: bool,
}

/// How a waiting poller is woken.
#[derive(Debug, Default)]
pub struct Bell {
    notify: Notify,
    /// Set while rung and not yet answered: `Some(task)` it was rung for,
    /// or `Some(None)` for a general wake.
    rung_for: Mutex<Option<Option<Queued>>>,
}

impl Bell {
    fn ring(&self, queued: Option<Queued>) {
        *self.rung_for.lock().expect("bell poisoned") = Some(queued);
        // notify_one keeps the wake if the poller is not waiting yet.
        self.notify.notify_one();
    }

    fn is_rung(&self) -> bool {
        self.rung_for.lock().expect("bell poisoned").is_some()
    }

    /// Takes the ring before looking for work: the look answers it.
    pub fn answer(&self) {
        self.rung_for.lock().expect("bell poisoned").take();
    }

    /// Resolves when the bell rings (at once if it rang since the last wait).
    pub async fn rung(&self) {
        self.notify.notified().await;
    }
}

/// A place in the line of pollers. Dropped while rung but unanswered (its
/// client went away), it passes the wake on, so the task is not stranded.
#[derive(Debug)]
pub struct PollerGuard<'a> {
    signals: &'a Signals,
    id: u64,
    /// The poller's bell.
    pub bell: Arc<Bell>,
}

impl Drop for PollerGuard<'_> {
    fn drop(&mut self) {
        self.signals
            .pollers
            .lock()
            .expect("pollers poisoned")
            .retain(|poller| poller.id != self.id);
        let unanswered = self.bell.rung_for.lock().expect("bell poisoned").take();
        match unanswered {
            Some(Some(queued)) => self.signals.ring_for(queued),
            Some(None) => self.signals.wake_all_pollers(),
            None => {}
        }
    }
}

/// A subscription to one task's changes; keep it while waiting.
#[derive(Debug)]
pub struct TaskWatch {
    _sender: std::sync::Arc<watch::Sender<u64>>,
    /// Resolves on the next change after the subscription.
    pub receiver: watch::Receiver<u64>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            pollers: Mutex::new(VecDeque::new()),
            next_poller: AtomicU64::new(0),
            commands: watch::channel(0).0,
            tasks: Mutex::new(HashMap::new()),
            live: broadcast::channel(LIVE_BACKLOG).0,
        }
    }
}

impl Signals {
    /// Joins the line of nodes waiting for work; leaving it is dropping the guard.
    pub fn poll_for_work(&self, fit: Fit) -> PollerGuard<'_> {
        let id = self.next_poller.fetch_add(1, Ordering::Relaxed);
        let bell = Arc::new(Bell::default());
        self.pollers
            .lock()
            .expect("pollers poisoned")
            .push_back(Poller {
                id,
                fit,
                bell: bell.clone(),
            });
        PollerGuard {
            signals: self,
            id,
            bell,
        }
    }

    /// Says a task with these labels, meant for the node `target` if any,
    /// asking for GPUs or not, was queued: the longest-waiting poller that
    /// can run it, and is not already on its way to claim one, is woken.
    pub fn task_queued(&self, labels: &[String], target: Option<&str>, gpus: bool) {
        self.ring_for(Queued {
            labels: labels.to_vec(),
            target: target.map(str::to_owned),
            gpus,
        });
    }

    /// Says what a node takes changed (its capacity or yielding, from a
    /// heartbeat): its waiting pollers take the new fit and are woken to look again.
    pub fn refit(&self, fit: Fit) {
        for poller in self.pollers.lock().expect("pollers poisoned").iter_mut() {
            if poller.fit.node == fit.node {
                poller.fit = fit.clone();
                poller.bell.ring(None);
            }
        }
    }

    fn ring_for(&self, queued: Queued) {
        let pollers = self.pollers.lock().expect("pollers poisoned");
        if let Some(poller) = pollers
            .iter()
            .filter(|poller| poller.fit.takes(&queued))
            .find(|poller| !poller.bell.is_rung())
        {
            poller.bell.ring(Some(queued));
        }
    }

    /// Wakes every poller: the queue changed in ways one task's labels do not
    /// say (tasks requeued, a node's labels changed).
    pub fn wake_all_pollers(&self) {
        for poller in self.pollers.lock().expect("pollers poisoned").iter() {
            poller.bell.ring(None);
        }
    }

    /// Subscribes to "a request for some node was recorded".
    pub fn watch_commands(&self) -> watch::Receiver<u64> {
        self.commands.subscribe()
    }

    /// Says a request for a node was recorded.
    pub fn commands_changed(&self) {
        self.commands.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Subscribes to one task's log and state changes.
    pub fn watch_task(&self, id: &str) -> TaskWatch {
        let mut tasks = self.tasks.lock().expect("signal map poisoned");
        if let Some(sender) = tasks.get(id).and_then(Weak::upgrade) {
            let receiver = sender.subscribe();
            return TaskWatch {
                _sender: sender,
                receiver,
            };
        }
        // Drop the entries of tasks nobody follows any more while we are here.
        tasks.retain(|_, sender| sender.strong_count() > 0);
        let sender = std::sync::Arc::new(watch::channel(0).0);
        tasks.insert(id.to_owned(), std::sync::Arc::downgrade(&sender));
        let receiver = sender.subscribe();
        TaskWatch {
            _sender: sender,
            receiver,
        }
    }

    /// Says a task was submitted or changed: its followers wake and the
    /// event stream says so.
    pub fn task_changed(&self, id: &str) {
        self.happened(|| Happening::Task(id.to_owned()));
        self.log_grew(id);
    }

    /// Says a task's log grew: its followers wake (the event stream is not
    /// told; a log has its own stream).
    pub fn log_grew(&self, id: &str) {
        let sender = self
            .tasks
            .lock()
            .expect("signal map poisoned")
            .get(id)
            .and_then(Weak::upgrade);
        if let Some(sender) = sender {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

impl Signals {
    /// Subscribes to what people watch; see [`Happening`].
    pub fn watch_live(&self) -> broadcast::Receiver<Happening> {
        self.live.subscribe()
    }

    /// Says nodes changed (added, renamed, relabeled, removed, came or went).
    pub fn nodes_changed(&self) {
        self.happened(|| Happening::Nodes);
    }

    /// Says a node's heartbeat brought these figures.
    pub fn node_sampled(&self, node: &str, sample: Arc<NodeSample>) {
        self.happened(|| Happening::Sample {
            node: node.to_owned(),
            sample,
        });
    }

    /// Broadcasts a happening, made only when someone listens.
    fn happened(&self, happening: impl FnOnce() -> Happening) {
        if self.live.receiver_count() > 0 {
            // An error means the last subscriber just left: nobody to tell.
            let _ = self.live.send(happening());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(list: &[&str]) -> Fit {
        Fit {
            node: format!("node-{}", list.join("-")),
            labels: list.iter().map(|l| l.to_string()).collect(),
            only_labeled: false,
            takes_nothing: false,
            takes_gpu_tasks: true,
        }
    }

    #[test]
    fn a_task_rings_the_longest_waiting_poller_that_fits() {
        let signals = Signals::default();
        let plain = signals.poll_for_work(labels(&[]));
        let gpu_old = signals.poll_for_work(labels(&["gpu"]));
        let gpu_new = signals.poll_for_work(labels(&["gpu", "eu"]));
        signals.task_queued(&["gpu".to_owned()], None, false);
        assert!(!plain.bell.is_rung(), "its labels do not fit");
        assert!(gpu_old.bell.is_rung(), "the oldest that fits");
        assert!(!gpu_new.bell.is_rung(), "one task, one wake");
        // A second task passes over the poller already on its way.
        signals.task_queued(&["gpu".to_owned()], None, false);
        assert!(gpu_new.bell.is_rung());
        signals.task_queued(&[], None, false);
        assert!(plain.bell.is_rung());
    }

    #[test]
    fn happenings_reach_subscribers_and_a_slow_one_lags_without_blocking() {
        let signals = Signals::default();
        // Nobody listens: nothing is kept.
        signals.task_changed("t0");
        let mut live = signals.watch_live();
        signals.task_changed("t1");
        signals.log_grew("t1");
        signals.nodes_changed();
        assert_eq!(live.try_recv().unwrap(), Happening::Task("t1".into()));
        assert_eq!(live.try_recv().unwrap(), Happening::Nodes);
        assert!(
            live.try_recv().is_err(),
            "a log append is not a task change"
        );
        for i in 0..LIVE_BACKLOG + 10 {
            signals.task_changed(&format!("t{i}"));
        }
        assert!(matches!(
            live.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
        assert_eq!(live.try_recv().unwrap(), Happening::Task("t10".into()));
    }

    #[test]
    fn a_rung_poller_that_leaves_passes_the_wake_on() {
        let signals = Signals::default();
        let first = signals.poll_for_work(labels(&["gpu"]));
        let second = signals.poll_for_work(labels(&["gpu"]));
        signals.task_queued(&["gpu".to_owned()], None, false);
        assert!(first.bell.is_rung() && !second.bell.is_rung());
        drop(first);
        assert!(second.bell.is_rung(), "the task is not stranded");
        // An answered ring is not passed on.
        second.bell.answer();
        let third = signals.poll_for_work(labels(&[]));
        drop(second);
        assert!(!third.bell.is_rung());
        signals.wake_all_pollers();
        assert!(third.bell.is_rung());
    }

    #[test]
    fn a_task_for_one_node_or_with_labels_rings_only_a_node_that_takes_it() {
        let signals = Signals::default();
        let picky = signals.poll_for_work(Fit {
            only_labeled: true,
            ..labels(&["gpu"])
        });
        let other = signals.poll_for_work(labels(&["gpu"]));
        let target = signals.poll_for_work(labels(&[]));
        signals.task_queued(&[], Some("node-"), false);
        assert!(!picky.bell.is_rung() && !other.bell.is_rung());
        assert!(target.bell.is_rung(), "only the node it is meant for");
        signals.task_queued(&[], None, false);
        assert!(
            other.bell.is_rung(),
            "an only_labeled node passes over a task without labels"
        );
        assert!(!picky.bell.is_rung());
        signals.task_queued(&["gpu".to_owned()], None, false);
        assert!(picky.bell.is_rung());
    }

    #[test]
    fn a_yielding_node_or_one_without_gpus_is_not_rung_for_what_it_cannot_take() {
        let signals = Signals::default();
        let no_gpus = signals.poll_for_work(Fit {
            takes_gpu_tasks: false,
            ..labels(&[])
        });
        let yielding = signals.poll_for_work(Fit {
            takes_nothing: true,
            node: "yielding".into(),
            ..labels(&[])
        });
        signals.task_queued(&[], None, true);
        assert!(!no_gpus.bell.is_rung() && !yielding.bell.is_rung());
        signals.task_queued(&[], None, false);
        assert!(no_gpus.bell.is_rung() && !yielding.bell.is_rung());
        // The yield ends: the node's poller takes the new fit and looks again.
        signals.refit(Fit {
            node: "yielding".into(),
            ..labels(&[])
        });
        assert!(yielding.bell.is_rung());
        yielding.bell.answer();
        signals.task_queued(&[], None, true);
        assert!(yielding.bell.is_rung(), "it takes GPU tasks now");
    }
}

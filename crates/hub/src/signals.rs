//! Wake-ups for waiting requests: long-polls for the queue, log followers for a task.
//!
//! Each signal is a `watch` channel holding a counter. A waiter subscribes
//! *before* it reads the database, so a change that lands between its read and
//! its wait still wakes it.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};

use tokio::sync::watch;

/// The hub's signals.
#[derive(Debug)]
pub struct Signals {
    queue: watch::Sender<u64>,
    /// Bumped when a request for a node (cancel, pause, resume) is recorded.
    commands: watch::Sender<u64>,
    /// Per-task senders, held weakly: a task nobody follows costs nothing.
    /// A std mutex, since nothing awaits while holding it.
    tasks: Mutex<HashMap<String, Weak<watch::Sender<u64>>>>,
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
            queue: watch::channel(0).0,
            commands: watch::channel(0).0,
            tasks: Mutex::new(HashMap::new()),
        }
    }
}

impl Signals {
    /// Subscribes to "a task was queued".
    pub fn watch_queue(&self) -> watch::Receiver<u64> {
        self.queue.subscribe()
    }

    /// Says a task was queued (submitted or requeued).
    pub fn queue_changed(&self) {
        self.queue.send_modify(|n| *n = n.wrapping_add(1));
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

    /// Says a task's log grew or its state changed.
    pub fn task_changed(&self, id: &str) {
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

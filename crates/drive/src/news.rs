//! Which jobs to read again. The hub's live stream (`GET /v1/events`) names
//! the tasks that changed; the driver reads only those (and every job now
//! and then, and after the stream dropped, when it may have missed news).
//!
//! Why: a sweep of hundreds of jobs would otherwise cost hundreds of calls
//! a second. Missing an event costs nothing but time: the next full read
//! finds the change, and the task's history gives every transition anyway.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use gantry_client::{HubClient, TaskNews};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long after a dropped stream it is opened again.
const RECONNECT: Duration = Duration::from_secs(1);

/// The tasks said to have changed since the last [`News::take`].
#[derive(Debug, Default)]
struct Dirty {
    ids: HashSet<String>,
    all: bool,
}

/// The news, shared between the stream's reader and the driver.
#[derive(Debug, Clone)]
pub struct News {
    dirty: Arc<Mutex<Dirty>>,
    notify: Arc<Notify>,
}

impl News {
    /// News that starts with "read everything".
    pub fn new() -> News {
        News {
            dirty: Arc::new(Mutex::new(Dirty {
                ids: HashSet::new(),
                all: true,
            })),
            notify: Arc::new(Notify::new()),
        }
    }

    /// Reads the hub's stream until `stop`, on a task of `tracker`.
    pub fn follow(&self, client: HubClient, stop: CancellationToken, tracker: &TaskTracker) {
        let news = self.clone();
        tracker.spawn(async move {
            loop {
                if let Ok(stream) = client.task_news().await {
                    // What changed before the stream opened is unknown.
                    news.mark(None);
                    let mut stream = std::pin::pin!(stream);
                    loop {
                        let item = tokio::select! {
                            _ = stop.cancelled() => return,
                            item = stream.next() => item,
                        };
                        match item {
                            Some(Ok(TaskNews::Changed(ids))) => news.mark(Some(ids)),
                            Some(Ok(TaskNews::All)) => news.mark(None),
                            Some(Err(_)) | None => break,
                        }
                    }
                }
                news.mark(None);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(RECONNECT) => {}
                }
            }
        });
    }

    /// Notes changed tasks (`None`: maybe all) and wakes the driver.
    pub(crate) fn mark(&self, ids: Option<Vec<String>>) {
        let mut dirty = self.dirty.lock().expect("news");
        match ids {
            Some(ids) => dirty.ids.extend(ids),
            None => dirty.all = true,
        }
        drop(dirty);
        self.notify.notify_one();
    }

    /// Takes the news: whether to read every job, and which tasks changed.
    pub fn take(&self) -> (bool, HashSet<String>) {
        let mut dirty = self.dirty.lock().expect("news");
        let all = std::mem::take(&mut dirty.all);
        (all, std::mem::take(&mut dirty.ids))
    }

    /// Resolves when there is news (at once if some came since the last wait).
    pub async fn arrived(&self) {
        self.notify.notified().await;
    }
}

impl Default for News {
    fn default() -> News {
        News::new()
    }
}

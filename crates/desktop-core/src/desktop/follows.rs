//! The windows' log subscriptions: each open log view follows one task's
//! log ([`crate::logs::follow`]) until the task ended and its log was read,
//! the window went away, or the view closed and unfollowed it by number.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_util::sync::CancellationToken;

use super::Desktop;
use crate::view::{LogBatch, UiError};

/// The log follows open, by number, each with what stops it.
#[derive(Debug)]
pub(super) struct LogFollows {
    next: AtomicU32,
    open: Mutex<HashMap<u32, CancellationToken>>,
}

impl Default for LogFollows {
    fn default() -> LogFollows {
        LogFollows {
            next: AtomicU32::new(1),
            open: Mutex::default(),
        }
    }
}

impl LogFollows {
    /// Keeps a new follow stopped by `cancel`; its number.
    fn open(&self, cancel: CancellationToken) -> u32 {
        let number = self.next.fetch_add(1, Ordering::SeqCst);
        self.open
            .lock()
            .expect("follows poisoned")
            .insert(number, cancel);
        number
    }

    /// Stops the follow `number`, if it is open.
    fn close(&self, number: u32) {
        if let Some(cancel) = self.open.lock().expect("follows poisoned").remove(&number) {
            cancel.cancel();
        }
    }
}

impl Desktop {
    /// Sends the task's log through `send` in batches, from (near) its start,
    /// then as it grows, until the task ended and its log was read, `send`
    /// fails, or [`Desktop::unfollow_log`]. Returns the subscription's number.
    pub fn follow_log(
        &self,
        id: String,
        send: impl Fn(LogBatch) -> bool + Send + 'static,
    ) -> Result<u32, UiError> {
        let agent = self.agent()?;
        let cancel = self.jobs.stop.child_token();
        let number = self.follows.open(cancel.clone());
        self.jobs.tracker.spawn(async move {
            crate::logs::follow(agent, id, send, cancel).await;
        });
        Ok(number)
    }

    /// Ends a log subscription.
    pub fn unfollow_log(&self, number: u32) {
        self.follows.close(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_follow_has_its_own_number_and_closing_stops_it() {
        let follows = LogFollows::default();
        let (a, b) = (CancellationToken::new(), CancellationToken::new());
        assert_eq!(follows.open(a.clone()), 1);
        assert_eq!(follows.open(b.clone()), 2);
        follows.close(1);
        assert!(a.is_cancelled() && !b.is_cancelled());
        follows.close(1);
        follows.close(99);
        assert!(!b.is_cancelled());
    }
}

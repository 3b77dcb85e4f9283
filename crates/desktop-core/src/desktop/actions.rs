//! The person's actions on the tasks, from the tray and the UI: pause,
//! resume or cancel one task; pause or resume every task, or pause them for
//! a while; drain (finish what runs, take nothing new).
//!
//! Each action goes to the agent, then the status is made again at once, so
//! the tray and the window show it without waiting for the next second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use gantry_agent::clock::now_ms;

use super::Desktop;
use crate::view::UiError;

/// A pause of every task that ends by itself ("Pause for 1 hour"): when, and
/// how to call off its timer when the person resumes or pauses again first.
#[derive(Debug, Default)]
pub(super) struct TimedPause {
    current: Mutex<Option<Pause>>,
}

#[derive(Debug)]
struct Pause {
    until_ms: i64,
    cancel: CancellationToken,
}

impl TimedPause {
    /// When the timed pause ends, while one runs.
    pub(super) fn until_ms(&self) -> Option<i64> {
        self.current
            .lock()
            .expect("pause poisoned")
            .as_ref()
            .map(|p| p.until_ms)
    }

    /// Keeps a timed pause that ends at `until_ms`; `cancel` calls off its timer.
    fn start(&self, until_ms: i64, cancel: CancellationToken) {
        *self.current.lock().expect("pause poisoned") = Some(Pause { until_ms, cancel });
    }

    /// Calls off the timed pause, if one runs.
    fn end(&self) {
        if let Some(pause) = self.current.lock().expect("pause poisoned").take() {
            pause.cancel.cancel();
        }
    }
}

impl Desktop {
    /// Pauses one task.
    pub fn pause_task(&self, id: &str) -> Result<(), UiError> {
        held(self.agent()?.pause_task(id), id)?;
        self.refresh();
        Ok(())
    }

    /// Resumes one task.
    pub fn resume_task(&self, id: &str) -> Result<(), UiError> {
        held(self.agent()?.resume_task(id), id)?;
        self.refresh();
        Ok(())
    }

    /// Cancels one task.
    pub fn cancel_task(&self, id: &str) -> Result<(), UiError> {
        held(self.agent()?.cancel_task(id), id)?;
        self.refresh();
        Ok(())
    }

    /// Freezes every task until resumed.
    pub fn pause_all(&self) -> Result<(), UiError> {
        let agent = self.agent()?;
        self.pause.end();
        agent.pause_all();
        self.refresh();
        Ok(())
    }

    /// Thaws every task.
    pub fn resume_all(&self) -> Result<(), UiError> {
        let agent = self.agent()?;
        self.pause.end();
        agent.resume_all();
        self.refresh();
        Ok(())
    }

    /// Freezes every task for `how_long`, then resumes by itself.
    pub fn pause_for(self: &Arc<Desktop>, how_long: Duration) -> Result<(), UiError> {
        let agent = self.agent()?;
        self.pause.end();
        agent.pause_all();
        let cancel = self.jobs.stop.child_token();
        self.pause
            .start(now_ms() + how_long.as_millis() as i64, cancel.clone());
        let desktop = Arc::clone(self);
        self.jobs.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(how_long) => {
                    tracing::info!("the timed pause ended; resuming");
                    let _ = desktop.resume_all();
                }
            }
        });
        self.refresh();
        Ok(())
    }

    /// Drains (`true`: running tasks finish, no new ones) or ends draining.
    pub fn drain(&self, draining: bool) -> Result<(), UiError> {
        self.agent()?.drain(draining);
        self.refresh();
        Ok(())
    }
}

/// The UI's error for a task the agent no longer holds.
fn held(found: bool, id: &str) -> Result<(), UiError> {
    if found {
        Ok(())
    } else {
        Err(UiError::new(
            "not_held",
            format!("task {id} is not running on this computer any more"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn a_new_timed_pause_or_a_resume_calls_off_the_timer() {
        let pause = TimedPause::default();
        assert_eq!(pause.until_ms(), None);
        let first = CancellationToken::new();
        pause.start(1_000, first.clone());
        assert_eq!(pause.until_ms(), Some(1_000));
        pause.end();
        assert!(first.is_cancelled());
        assert_eq!(pause.until_ms(), None);
        pause.end();
    }

    #[tokio::test]
    async fn without_an_agent_actions_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::new(dir.path().join("desktop.json"), Settings::default());
        for result in [
            desktop.pause_task("t1"),
            desktop.pause_all(),
            desktop.resume_all(),
            desktop.pause_for(Duration::from_secs(60)),
            desktop.drain(true),
        ] {
            assert_eq!(result.unwrap_err().code, "not_running");
        }
        assert_eq!(
            desktop.follow_log("t1".into(), |_| true).unwrap_err().code,
            "not_running"
        );
        assert!(!desktop.holds_tasks());
        assert_eq!(desktop.status().connection, crate::view::Connection::Setup);
        desktop.shutdown(false, Duration::from_secs(5)).await;
        assert!(desktop.stopping().is_cancelled());
    }
}

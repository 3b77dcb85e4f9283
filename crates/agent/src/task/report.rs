//! Telling the hub what happens to a task: its events, each retried while
//! the hub is away when it must arrive, and the final state.
//!
//! The hub's answer to an event may carry a cancel, which cancels the task
//! here; a hub that no longer lists the task for this node cancels it too.

use gantry_client::HubClient;
use gantry_protocol::TaskState;
use gantry_protocol::usage::TaskUsage;
use gantry_protocol::wire::{CommandKind, TaskEvent, codes};
use tokio_util::sync::CancellationToken;

use super::Outcome;
use crate::backoff::Backoff;

/// Reports a task's events to the hub, retrying what must arrive.
#[derive(Debug, Clone)]
pub(super) struct Reporter {
    /// `None` for `gantry run`: every report succeeds at once.
    hub: Option<HubClient>,
    id: String,
    /// The task's cancel: a cancel riding on an answer sets it.
    cancel: CancellationToken,
    /// The agent's stop: retries end.
    stop: CancellationToken,
}

impl Reporter {
    pub(super) fn new(
        hub: Option<HubClient>,
        id: String,
        cancel: CancellationToken,
        stop: CancellationToken,
    ) -> Reporter {
        Reporter {
            hub,
            id,
            cancel,
            stop,
        }
    }

    /// Sends an event. With `must`, network failures are retried until the
    /// hub answers or the agent stops. A cancel riding on the answer cancels
    /// the task. `false` if the agent stopped before the hub answered.
    pub(super) async fn send(&self, event: TaskEvent, must: bool) -> bool {
        let Some(hub) = &self.hub else { return true };
        let mut backoff = Backoff::default();
        loop {
            match hub.event(&self.id, &event).await {
                Ok(ack) => {
                    if ack.command == Some(CommandKind::Cancel) || ack.state == TaskState::Canceled
                    {
                        self.cancel.cancel();
                    }
                    return true;
                }
                Err(error) if must && error.is_transient() => {
                    tracing::debug!(%error, task = %self.id, "event not delivered; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.wait()) => {}
                        _ = self.stop.cancelled() => return false,
                    }
                }
                Err(error) => {
                    if error.code() == Some(codes::NOT_FOUND) {
                        // The hub gave the task to someone else or forgot it: stop working on it.
                        tracing::warn!(task = %self.id, "the hub no longer lists this task for this node; stopping it");
                        self.cancel.cancel();
                    } else if must {
                        tracing::warn!(%error, task = %self.id, "the hub refused an event");
                    }
                    // Refused for good: saying it again would not help.
                    return true;
                }
            }
        }
    }

    /// Reports the final state; `false` if the agent stopped before the hub answered.
    /// `usage`: what the task used on this node, sent with the final state.
    pub(super) async fn finish(&self, outcome: &Outcome, usage: Option<TaskUsage>) -> bool {
        let event = match outcome.state {
            TaskState::Succeeded => TaskEvent::Finished {
                exit_code: 0,
                reason: outcome.reason.clone(),
                usage,
            },
            TaskState::Canceled => TaskEvent::Canceled {
                reason: outcome.reason.clone(),
                usage,
            },
            _ => match outcome.exit_code {
                Some(code) if code != 0 => TaskEvent::Finished {
                    exit_code: code,
                    reason: outcome.reason.clone(),
                    usage,
                },
                exit_code => TaskEvent::Failed {
                    reason: outcome.reason.clone().unwrap_or_else(|| "failed".into()),
                    exit_code,
                    usage,
                },
            },
        };
        self.send(event, true).await
    }
}

//! Task states and the moves allowed between them.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a task is in its life.
///
/// ```text
/// queued ─▶ assigned ─▶ pulling ─▶ running ⇄ paused
///   │          │           │          │        │
///   ▼          ▼           ▼          ▼        ▼
/// canceled   succeeded / failed / canceled / lost ─▶ (running again if its node comes back)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting on the hub for a node whose labels match.
    Queued,
    /// Handed to a node, which has not yet started it.
    Assigned,
    /// The node is pulling the task's image.
    Pulling,
    /// The task's command is running.
    Running,
    /// The task's container is frozen; it keeps its memory and resumes where it stopped.
    Paused,
    /// The command exited with code 0.
    Succeeded,
    /// The command exited with another code, or the task could not be run.
    Failed,
    /// A person or script canceled it.
    Canceled,
    /// Its node stopped sending heartbeats while holding it; it comes back if the node does.
    Lost,
}

impl TaskState {
    /// Every state, in the order of a task's life.
    pub const ALL: [TaskState; 9] = [
        TaskState::Queued,
        TaskState::Assigned,
        TaskState::Pulling,
        TaskState::Running,
        TaskState::Paused,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::Lost,
    ];

    /// The state's name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Assigned => "assigned",
            TaskState::Pulling => "pulling",
            TaskState::Running => "running",
            TaskState::Paused => "paused",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Canceled => "canceled",
            TaskState::Lost => "lost",
        }
    }

    /// A finished task never changes state again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Canceled
        )
    }

    /// A task a node holds: assigned to it and not finished.
    pub fn is_held(self) -> bool {
        matches!(
            self,
            TaskState::Assigned
                | TaskState::Pulling
                | TaskState::Running
                | TaskState::Paused
                | TaskState::Lost
        )
    }

    /// Whether a node's report may move a task from `self` to `next`.
    ///
    /// Reports are idempotent: the same state twice is allowed and changes
    /// nothing. Nothing leaves a terminal state, and a node never sends a task
    /// back to the queue (only the hub does, for an assignment that was never
    /// accepted).
    pub fn node_may_move_to(self, next: TaskState) -> bool {
        if self == next {
            return true;
        }
        if self.is_terminal()
            || matches!(
                next,
                TaskState::Queued | TaskState::Assigned | TaskState::Lost
            )
        {
            return false;
        }
        match self {
            TaskState::Queued => false,
            // A paused task is frozen, so it cannot be pulling again.
            TaskState::Paused => next != TaskState::Pulling,
            // Once running, a task does not go back to pulling its image.
            TaskState::Running => next != TaskState::Pulling,
            TaskState::Assigned | TaskState::Pulling | TaskState::Lost => true,
            TaskState::Succeeded | TaskState::Failed | TaskState::Canceled => false,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`TaskState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown task state \"{0}\"; expected one of queued, assigned, pulling, running, paused, succeeded, failed, canceled, lost"
)]
pub struct UnknownState(pub String);

impl FromStr for TaskState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
        assert!(
            "done"
                .parse::<TaskState>()
                .unwrap_err()
                .to_string()
                .contains("expected one of")
        );
    }

    #[test]
    fn moves() {
        use TaskState::*;
        assert!(Assigned.node_may_move_to(Pulling));
        assert!(Running.node_may_move_to(Paused));
        assert!(Paused.node_may_move_to(Running));
        assert!(Lost.node_may_move_to(Running));
        assert!(
            Succeeded.node_may_move_to(Succeeded),
            "a repeated report is a no-op"
        );
        assert!(!Succeeded.node_may_move_to(Failed));
        assert!(!Running.node_may_move_to(Queued));
        assert!(!Running.node_may_move_to(Pulling));
        assert!(
            !Queued.node_may_move_to(Running),
            "a node cannot take a task it was not given"
        );
    }
}

//! What the agent shows of itself: its mode, the tasks it holds and its
//! state ([`AgentStatus`], for `gantry agent status`, the control socket and
//! the UI), and what it announces as it happens ([`AgentEvent`]).

use gantry_protocol::TaskState;
use gantry_protocol::wire::PullProgress;
use serde::{Deserialize, Serialize};

/// Whether the agent takes new tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mode {
    /// Every task is frozen and no new one is taken.
    pub paused: bool,
    /// Running tasks finish; no new one is taken.
    pub draining: bool,
}

impl Mode {
    /// Whether the agent takes new tasks in this mode.
    pub(super) fn accepting(self) -> bool {
        !self.paused && !self.draining
    }
}

/// A task the agent holds, as shown in status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldView {
    /// The task's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its state as the agent sees it.
    pub state: TaskState,
    /// Its image, for the docker executor.
    pub image: Option<String>,
    /// Its image pull's progress, while it pulls.
    #[serde(default)]
    pub pull: Option<PullProgress>,
}

/// The agent's state, for `gantry agent status`, the control socket and the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// This agent's own name (`--name`), for its logs and container labels.
    pub name: String,
    /// The node's name at the hub, once the hub said it; a rename at the hub
    /// reaches it with the next heartbeat.
    #[serde(default)]
    pub node: Option<String>,
    /// All the node's labels as the hub last said them, else the agent's own.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The hub's address.
    pub server: Option<String>,
    /// Whether the last call to the hub succeeded.
    pub connected: bool,
    /// Paused or draining.
    pub mode: Mode,
    /// The most tasks run at once.
    pub max_tasks: usize,
    /// The tasks held now.
    pub tasks: Vec<HeldView>,
    /// `null` when Docker answers, else why it does not.
    pub docker_problem: Option<String>,
    /// The host dir.
    pub host_dir: String,
    /// As the hub would show the node: `online` (or `offline` when the hub
    /// is out of reach), `paused`, `draining` or `yielding`.
    #[serde(default)]
    pub state: gantry_protocol::admin::NodeState,
    /// Why it steps aside for its person, while `state` is `yielding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yield_reason: Option<String>,
    /// The whole yield, with whether it stops only GPU work and since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yielding: Option<gantry_protocol::wire::Yielding>,
}

impl Mode {
    /// The node's state for this mode, before yielding is considered.
    pub(super) fn node_state(self, connected: bool) -> gantry_protocol::admin::NodeState {
        use gantry_protocol::admin::NodeState;
        match (connected, self.paused, self.draining) {
            (false, _, _) => NodeState::Offline,
            (true, true, _) => NodeState::Paused,
            (true, false, true) => NodeState::Draining,
            (true, false, false) => NodeState::Online,
        }
    }
}

/// Something that happened, for the UI and notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A task was taken.
    TaskStarted {
        /// Its id.
        id: String,
        /// Its name.
        name: String,
    },
    /// A task ended.
    TaskFinished {
        /// Its id.
        id: String,
        /// Its name.
        name: String,
        /// Its final state.
        state: TaskState,
        /// Why, if it did not succeed.
        reason: Option<String>,
        /// The command's exit code, if it ran and exited.
        #[serde(default)]
        exit_code: Option<i64>,
    },
    /// The node steps aside for its person (a rule holds), for the tray's
    /// line and an optional notification.
    Yielding {
        /// Why, in the person's words.
        reason: String,
    },
    /// No rule holds any more (after the settle time): work comes back.
    Resumed,
}

//! The bodies of node and token administration: showing, renaming,
//! relabeling and removing a node, rotating its token, and listing and
//! revoking admin tokens (`/v1/nodes/{node}`, `/v1/tokens`).
//!
//! They live apart from [`crate::wire`] because only people (with an admin
//! token) send them; an agent sees only [`NodeIdentity`], in its heartbeat
//! answers, so a name or a label changed at the hub reaches it without a restart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::wire::{Millis, Node};

/// Whether a node takes work now, as `gantry node list` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// It sent a heartbeat recently and takes tasks.
    Online,
    /// It has not been heard from within the hub's `offline_after`.
    #[default]
    Offline,
    /// It is online but takes no new tasks (paused on its machine).
    Paused,
    /// It is online and lets its running tasks finish, taking no new ones
    /// (`gantry agent drain`); its heartbeat says so.
    Draining,
    /// It is online and steps aside for its person (`Node::yield_reason`
    /// says why); it takes no task the reason would stop (none, or none
    /// that asks for GPUs when only GPU work yields).
    Yielding,
}

impl NodeState {
    /// The state as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Online => "online",
            NodeState::Offline => "offline",
            NodeState::Paused => "paused",
            NodeState::Draining => "draining",
            NodeState::Yielding => "yielding",
        }
    }
}

/// A node's name and labels now, as the hub's admin set them; sent to its
/// agent with every heartbeat answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NodeIdentity {
    /// The node's name.
    pub name: String,
    /// All its labels: those given at the hub and those its agent reports.
    pub labels: Vec<String>,
}

/// `POST /v1/nodes`: a node to enroll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    /// Its name, unique on the hub, e.g. the machine's host name.
    #[schemars(schema_with = "crate::rules::schema::node_name")]
    pub name: String,
    /// Labels for matching tasks to it.
    #[serde(default)]
    #[schemars(schema_with = "crate::rules::schema::node_labels")]
    pub labels: Vec<String>,
}

/// `PATCH /v1/nodes/{node}`: what to change; absent keys change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeChange {
    /// A new name, unique on the hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::rules::schema::optional_node_name")]
    pub name: Option<String>,
    /// Labels to give the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::rules::schema::node_labels")]
    pub add_labels: Vec<String>,
    /// Labels given at the hub to take away (an agent's own labels stay while it reports them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::rules::schema::node_labels")]
    pub remove_labels: Vec<String>,
}

/// The answer to enrolling a node or rotating its token: the token, shown
/// this once and never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeToken {
    /// The node.
    pub node: Node,
    /// Its new token; earlier ones are refused from now on.
    pub token: String,
}

/// The answer to removing a node: what became of its tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NodeRemoved {
    /// The removed node's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Queued tasks meant for it (job key `node:`), now failed.
    pub failed: Vec<String>,
    /// Tasks it held (assigned, running, paused, lost), now canceled.
    pub canceled: Vec<String>,
}

/// An admin token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenInfo {
    /// The name of its holder, as given to `gantry hub token create --admin`.
    pub name: String,
    /// When it was made.
    pub created_at: Millis,
    /// When it was last used, to the minute; `null` if never.
    pub last_used: Option<Millis>,
}

/// `GET /v1/tokens`: the admin tokens, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenList {
    /// The tokens, by name, then age.
    pub tokens: Vec<TokenInfo>,
}

/// `DELETE /v1/tokens/{name}`: what was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokensRevoked {
    /// The name.
    pub name: String,
    /// How many tokens of that name stopped working.
    pub revoked: u64,
}

/// Why a node name cannot be used, if it cannot: it must be non-empty
/// printable text of at most 100 characters, without leading or trailing spaces.
pub fn node_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        Some("a node name cannot be empty; use e.g. the machine's host name".into())
    } else if name.chars().any(char::is_control) {
        Some(format!(
            "{name:?} has control characters; a node name is printable text"
        ))
    } else if name.trim() != name {
        Some(format!("{name:?} starts or ends with spaces; remove them"))
    } else if name.chars().count() > 100 {
        Some("a node name has at most 100 characters".into())
    } else {
        None
    }
}

/// A time in Unix milliseconds as people read it in messages, to the
/// minute in UTC: `2026-12-06 14:03 UTC`.
pub fn utc_minute(ms: Millis) -> String {
    crate::clock_text::UtcTime::from_millis(ms).to_minute()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        // 2026-12-06 14:03:59 UTC
        assert_eq!(utc_minute(1_796_565_839_000), "2026-12-06 14:03 UTC");
        assert_eq!(utc_minute(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn node_names_are_checked() {
        assert!(node_name_problem("gpu-box").is_none());
        assert!(node_name_problem("GPU box 2").is_none());
        assert!(node_name_problem("").is_some());
        assert!(node_name_problem(" gpu").is_some());
        assert!(node_name_problem("a\nb").is_some());
        assert!(node_name_problem(&"x".repeat(101)).is_some());
    }

    #[test]
    fn states_are_snake_case() {
        assert_eq!(
            serde_json::to_string(&NodeState::Paused).unwrap(),
            "\"paused\""
        );
        assert_eq!(NodeState::Online.as_str(), "online");
    }
}

//! Request and response bodies of the hub's HTTP API (`/v1`).
//!
//! Every call carries `Authorization: Bearer <token>`. Agent calls take a node
//! token, user calls an admin token. Times are Unix milliseconds. Errors come
//! back as [`ErrorBody`] with a stable [`ErrorBody::code`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::gpu_use::{GpuUsePoint, TaskGpuUse};
use crate::job::JobSpec;
use crate::state::TaskState;
pub use crate::usage::TaskUsage;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code, such as `log_gap` or `not_found`.
    pub code: String,
    /// A sentence for a person, saying what went wrong and what to do.
    pub message: String,
    /// For `log_gap`: the number of log bytes the hub holds, where the next append must start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<u64>,
}

/// Stable error codes, as found in [`ErrorBody::code`].
pub mod codes {
    /// The request has no token, or one the hub does not know.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The token is valid but may not make this call (a node token on a user call).
    pub const FORBIDDEN: &str = "forbidden";
    /// No such task, node or blob (or not one this token may see).
    pub const NOT_FOUND: &str = "not_found";
    /// The route does not exist.
    pub const NO_SUCH_ROUTE: &str = "no_such_route";
    /// The route exists but not with this method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// The body or query could not be read.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The job was refused; the message lists each problem.
    pub const INVALID_JOB: &str = "invalid_job";
    /// A log append started past the committed offset; see [`super::ErrorBody::committed`].
    pub const LOG_GAP: &str = "log_gap";
    /// The request conflicts with the task's state, e.g. pausing a finished task.
    pub const CONFLICT: &str = "conflict";
    /// The body is larger than the hub accepts for this call.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// An uploaded blob's bytes do not hash to the sha256 in its address (HTTP 422).
    pub const HASH_MISMATCH: &str = "hash_mismatch";
    /// A job names a blob the hub does not hold; upload it first (HTTP 422).
    pub const BLOB_MISSING: &str = "blob_missing";
    /// The hub failed; its log has the details.
    pub const INTERNAL: &str = "internal";
    /// The hub is shutting down or its database is unreachable.
    pub const UNAVAILABLE: &str = "unavailable";
    /// The token was its node's, and the node was removed from the hub (401).
    pub const NODE_REMOVED: &str = "node_removed";
    /// The node's token was replaced by a newer one (`gantry node token --rotate`) (401).
    pub const TOKEN_REPLACED: &str = "token_replaced";
    /// The admin token was revoked (`gantry hub token revoke`) (401).
    pub const TOKEN_REVOKED: &str = "token_revoked";
    /// A job's `node:` names no node the hub knows; the message lists the known names.
    pub const UNKNOWN_NODE: &str = "unknown_node";
    /// An output kept on a node cannot be fetched: the node is offline.
    pub const NODE_OFFLINE: &str = "node_offline";
    /// An output kept on a node cannot be fetched: the node did not begin
    /// sending it in time, or said why it cannot.
    pub const FETCH_FAILED: &str = "fetch_failed";
    /// The console's session cookie names no live session: signed out,
    /// expired, or its admin token was revoked; sign in again (401).
    pub const SESSION_ENDED: &str = "session_ended";
    /// A call with the console's session cookie came from another site, or
    /// without the session's `X-Gantry-Csrf` value (403).
    pub const CSRF_REFUSED: &str = "csrf_refused";
    /// Said by the client, never by the hub: the server answered an error
    /// without a Gantry error body, so it is probably not a Gantry hub.
    pub const HTTP_ERROR: &str = "http_error";
}

/// A task as the hub knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    /// The task's id.
    pub id: String,
    /// The name to show: the job's name, else its image.
    pub name: String,
    /// Where the task is in its life.
    pub state: TaskState,
    /// The job as submitted.
    pub spec: JobSpec,
    /// The name of the node that holds or held it.
    pub node: Option<String>,
    /// The command's exit code, once it exited.
    pub exit_code: Option<i64>,
    /// Why it failed, was canceled or was lost, in words.
    pub reason: Option<String>,
    /// When it was submitted.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// When its command started, the first time.
    pub started_at: Option<Millis>,
    /// When it reached a final state.
    pub finished_at: Option<Millis>,
    /// How many log bytes the hub holds.
    pub log_size: u64,
    /// A request waiting for its node to act on it.
    pub pending_command: Option<CommandKind>,
    /// The latest image pull progress, while pulling.
    pub pull_progress: Option<PullProgress>,
    /// Results the node reported, with where they are kept.
    pub outputs: Vec<OutputFile>,
    /// Every state the task went through, oldest first (filled by `show`, empty in lists).
    pub history: Vec<Transition>,
    /// The checkpoint folder it left when a node released it (`tree:<sha256>`,
    /// a folder on the hub), placed back in its `checkpoint` folder when it
    /// runs again; absent until a release left one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::rules::schema::optional_tree")]
    pub checkpoint: Option<String>,
    /// Why it waits in the queue when no node can take it now ("no node can
    /// take it now (desk: …)"); said by `GET /v1/tasks/{id}` to people,
    /// absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// What it used of the GPUs it held, as its node measured it (memory,
    /// utilization, energy, GPU-seconds); absent for a task that held none,
    /// or whose node has no NVML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_use: Option<TaskGpuUse>,
    /// What it used on its node (wall time, CPU, GPUs, energy, bytes), from
    /// its node's final report; absent until then, or from an agent that
    /// does not measure it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TaskUsage>,
}

/// One state change in a task's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Transition {
    /// The state entered.
    pub state: TaskState,
    /// When.
    pub at: Millis,
    /// Why, when there is something to say.
    pub reason: Option<String>,
}

/// What a person or script asks a node to do with a task it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Stop it: SIGTERM, a grace period, SIGKILL, removal.
    Cancel,
    /// Freeze its container.
    Pause,
    /// Thaw it.
    Resume,
}

impl CommandKind {
    /// The command's name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Cancel => "cancel",
            CommandKind::Pause => "pause",
            CommandKind::Resume => "resume",
        }
    }

    /// Reads a name written by [`CommandKind::as_str`].
    pub fn parse(name: &str) -> Option<CommandKind> {
        [CommandKind::Cancel, CommandKind::Pause, CommandKind::Resume]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Bytes done and total of an image pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PullProgress {
    /// Bytes downloaded so far, over all layers.
    pub done: u64,
    /// Bytes to download, over the layers known so far.
    pub total: u64,
}

/// A result file of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OutputFile {
    /// Its path relative to the task folder.
    #[schemars(schema_with = "crate::rules::schema::relative_path")]
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, in lowercase hex.
    #[schemars(schema_with = "crate::rules::schema::sha256")]
    pub sha256: String,
    /// Where its bytes are.
    pub stored: OutputStore,
}

/// Where a result's bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStore {
    /// In the node's local storage (WITH_LOCAL_STORAGE).
    Node,
    /// Uploaded to the hub as a blob.
    Hub,
}

// ---- user calls ----

/// The answer to a submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Submitted {
    /// The new task's id.
    pub id: String,
}

/// The answer to a task list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskList {
    /// Tasks, newest first.
    pub tasks: Vec<Task>,
    /// The `before` that lists the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "task_cursor")]
    pub next: Option<String>,
}

/// The schema of [`TaskList::next`]: an optional [`crate::console_wire::TASK_CURSOR`].
fn task_cursor(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "null"],
        "pattern": crate::console_wire::TASK_CURSOR,
        "description": "The `before` that lists the next (older) page; absent on the last page"
    })
}

/// A node as the hub knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// The node's id.
    pub id: String,
    /// The node's name, given by `gantry hub node add` (or `gantry node rename`).
    pub name: String,
    /// Its labels: those given at the hub and those its agent reports.
    pub labels: Vec<String>,
    /// Whether it has sent a heartbeat recently.
    pub online: bool,
    /// When it was last heard from.
    pub last_seen: Option<Millis>,
    /// Its agent's version.
    pub version: Option<String>,
    /// Its latest system report.
    pub system: Option<SystemInfo>,
    /// How many unfinished tasks it holds.
    pub tasks_held: u64,
    /// Online, offline, paused (online but taking no new tasks) or draining
    /// (online, letting its tasks finish).
    #[serde(default)]
    pub state: crate::admin::NodeState,
    /// The tasks it holds now (assigned, pulling, running, paused or lost), oldest first.
    #[serde(default)]
    pub running: Vec<crate::console_wire::RunningTask>,
    /// The labels given at the hub (`node add`, `node label`), apart from the agent's.
    #[serde(default)]
    pub given_labels: Vec<String>,
    /// The labels its agent reports.
    #[serde(default)]
    pub agent_labels: Vec<String>,
    /// Whether it takes only tasks that carry at least one of its labels.
    #[serde(default)]
    pub only_labeled: bool,
    /// Why it steps aside for its person, while its state is `yielding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yield_reason: Option<String>,
    /// Whether it yields only its GPU work (CPU tasks still run there).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub yields_gpu_only: bool,
    /// What it can give a new task now, as its last heartbeat said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<NodeCapacity>,
    /// The images it takes, as its agent said; absent when it takes any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_policy: Option<crate::image_policy::ImagePolicy>,
}

/// The answer to a node list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeList {
    /// Nodes, by name.
    pub nodes: Vec<Node>,
}

// ---- agent calls ----

/// What an agent says when it connects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The agent's version.
    #[schemars(schema_with = "crate::rules::schema::text_without_nul")]
    pub version: String,
    /// Labels the agent adds to those the hub gave the node.
    #[serde(default)]
    #[schemars(schema_with = "crate::rules::schema::labels")]
    pub labels: Vec<String>,
    /// The machine it runs on.
    #[serde(default)]
    pub system: Option<SystemInfo>,
    /// Tasks the agent still holds, e.g. containers it re-attached to after a restart.
    #[serde(default)]
    pub inventory: Vec<HeldTask>,
    /// Take only tasks that carry at least one of the node's labels (`--only-labeled`).
    #[serde(default)]
    pub only_labeled: bool,
    /// What the node can give a new task now, as in a heartbeat; the hub
    /// offers its first tasks by it rather than waiting for a heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<NodeCapacity>,
    /// The images the node takes (`--allowed-images`, `--pinned-images-only`);
    /// absent when it takes any. The hub offers it only tasks it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_policy: Option<crate::image_policy::ImagePolicy>,
}

/// A task an agent holds, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldTask {
    /// The task's id.
    #[schemars(schema_with = "crate::rules::schema::task_id")]
    pub id: String,
    /// The state the agent sees it in.
    pub state: TaskState,
    /// How many log bytes the agent holds for it.
    #[serde(default)]
    pub log_size: u64,
}

/// The hub's answer to a register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Registered {
    /// The node's id.
    pub node_id: String,
    /// The node's name.
    pub node_name: String,
    /// All of the node's labels.
    pub labels: Vec<String>,
    /// How the agent should pace itself.
    pub settings: NodeSettings,
    /// How the hub sees each task of the inventory, and the hub's log size for it.
    pub reconciled: Vec<Reconciled>,
}

/// The hub's view of a task an agent reported holding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reconciled {
    /// The task's id.
    pub id: String,
    /// Its state on the hub after the register; `canceled` means stop it.
    pub state: Option<TaskState>,
    /// The hub's committed log size: shipping resumes from here.
    pub log_size: u64,
    /// A request waiting for the agent.
    pub command: Option<CommandKind>,
}

/// Timings the hub asks its agents to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NodeSettings {
    /// Seconds between heartbeats.
    pub heartbeat_secs: u64,
    /// After this many seconds without a heartbeat the node is offline and its tasks lost.
    pub offline_after_secs: u64,
    /// The longest wait `next` accepts, in seconds.
    pub max_wait_secs: u64,
    /// The largest log append the hub accepts, in bytes.
    pub max_log_append_bytes: u64,
}

/// What an agent sends every few seconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The machine's state now.
    #[serde(default)]
    pub system: Option<SystemInfo>,
    /// The tasks it holds.
    #[serde(default)]
    pub tasks: Vec<HeldTask>,
    /// Whether the agent takes new tasks (false while paused or draining).
    #[serde(default = "yes")]
    pub accepting: bool,
    /// Whether the agent is draining: letting its tasks finish, taking no new ones.
    /// Sent only when true, so a hub older than this field still takes the
    /// heartbeats of an agent that is not draining.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// What the node can give a new task now; absent from an agent that does
    /// not say (the hub then offers it every task, as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<NodeCapacity>,
    /// Why the node steps aside for its person now; absent when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yielding: Option<Yielding>,
    /// GPU use of its tasks that hold GPUs, by task id, without series:
    /// sampled every few seconds while they run, and the final figures once
    /// (with the heartbeat a give-back sends at once) after they end. A
    /// heartbeat is sent anyway, so the figures cost no request of their
    /// own. Absent on a node without NVML or without a GPU task.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::gpu_use::by_task")]
    pub gpu_use: BTreeMap<String, TaskGpuUse>,
    /// The images the node takes, as at register; absent when it takes any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_policy: Option<crate::image_policy::ImagePolicy>,
}

/// What a node can give a new task now. The hub offers a node only tasks
/// that fit it ([`crate::gpu_assign::assign`] on these GPUs); the agent
/// checks again when it takes one, and a task that no longer fits waits there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeCapacity {
    /// Every GPU (or MIG device) of the node: free memory now, how many
    /// Gantry tasks hold it, and whether its person keeps it (`reserved`,
    /// never given). Empty on a node without NVIDIA GPUs, which then takes
    /// no task that asks for GPUs.
    pub gpus: Vec<crate::gpu_assign::GpuSlot>,
}

/// A node stepping aside for its person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Yielding {
    /// Why, in words a person reads ("you are using this computer",
    /// "blender uses the GPU", "on battery", "quiet hours until 18:00").
    pub reason: String,
    /// Only GPU work steps aside (another program uses the GPU, or it is
    /// too hot): tasks without GPUs still run and are still taken.
    #[serde(default)]
    pub gpu_only: bool,
    /// Since when.
    pub since: Millis,
}

fn yes() -> bool {
    true
}

/// The hub's answer to a heartbeat: what the agent should do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct HeartbeatReply {
    /// Requests for tasks the node holds; repeated until the node reports the result.
    pub commands: Vec<NodeCommand>,
    /// The node's name and labels now, as the hub's admin set them (in heartbeat answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<crate::admin::NodeIdentity>,
}

/// One request for a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NodeCommand {
    /// The task it is about.
    pub task_id: String,
    /// What to do.
    pub command: CommandKind,
}

/// A task handed to an agent by `next`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    /// The task, with its job.
    pub task: Task,
}

/// A state change an agent reports. Reports are idempotent: sending the same
/// one again changes nothing. The variants without fields are written `{}`:
/// serde ignores unknown keys beside the tag of a unit variant, and the
/// document says no key but `event` is allowed there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskEvent {
    /// The agent took the assignment and will run it (the state stays `assigned`).
    Accepted {},
    /// The image is being pulled.
    Pulling {
        /// Progress so far, if known.
        #[serde(default)]
        progress: Option<PullProgress>,
    },
    /// The command is running (again, after a pause or a lost node).
    Running {},
    /// The container is frozen.
    Paused {},
    /// The command exited; code 0 is `succeeded`, anything else `failed`.
    Finished {
        /// The exit code.
        exit_code: i64,
        /// Why, if the agent knows more than the code (e.g. "killed after the 2h timeout").
        #[serde(default)]
        reason: Option<String>,
        /// What the task used on this node, measured by the agent (usage accounting).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<TaskUsage>,
    },
    /// The task could not be run, or ended abnormally.
    Failed {
        /// What went wrong, in words a person can act on.
        reason: String,
        /// The exit code, if the command ran.
        #[serde(default)]
        exit_code: Option<i64>,
        /// What the task used on this node, measured by the agent (usage accounting).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<TaskUsage>,
    },
    /// The task was stopped on request.
    Canceled {
        /// Who or what canceled it.
        #[serde(default)]
        reason: Option<String>,
        /// What the task used on this node, measured by the agent (usage accounting).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<TaskUsage>,
    },
    /// The node stepped aside for its person (`--yield-action release`): the
    /// task was stopped after its grace period and goes back to `queued`,
    /// its history saying why. Only the node holding it may send this, from
    /// assigned, pulling, running or paused.
    Released {
        /// Why, e.g. "yielding: you are using this computer".
        reason: String,
        /// The task's checkpoint folder as it left it (`tree:<sha256>`, its
        /// files uploaded as blobs first), for whichever node runs it next.
        #[serde(default)]
        #[schemars(schema_with = "crate::rules::schema::optional_tree")]
        checkpoint: Option<String>,
        /// What this run used on this node until it gave the task back
        /// (usage accounting: the node's work counts even though the task
        /// ends elsewhere).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<TaskUsage>,
    },
}

impl TaskEvent {
    /// The state this report moves the task to; `None` leaves the state as it is.
    pub fn target_state(&self) -> Option<TaskState> {
        match self {
            TaskEvent::Accepted {} => None,
            TaskEvent::Pulling { .. } => Some(TaskState::Pulling),
            TaskEvent::Running {} => Some(TaskState::Running),
            TaskEvent::Paused {} => Some(TaskState::Paused),
            TaskEvent::Finished { exit_code: 0, .. } => Some(TaskState::Succeeded),
            TaskEvent::Finished { .. } | TaskEvent::Failed { .. } => Some(TaskState::Failed),
            TaskEvent::Canceled { .. } => Some(TaskState::Canceled),
            TaskEvent::Released { .. } => Some(TaskState::Queued),
        }
    }
}

/// The hub's answer to an event: the task's state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventAck {
    /// The task's state now.
    pub state: TaskState,
    /// A request waiting for the agent, e.g. a cancel that arrived meanwhile.
    pub command: Option<CommandKind>,
}

/// The hub's answer to a log append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogAck {
    /// How many log bytes the hub holds now.
    pub committed: u64,
}

/// The results a node reports for a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputManifest {
    /// One entry per file.
    pub files: Vec<OutputFile>,
}

/// The hub's answer to a blob upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlobStored {
    /// The blob's sha256.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

// ---- data out: outputs and on-demand fetches from nodes ----

/// One output of a task, with where its bytes can be had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListedOutput {
    /// Its path relative to the task folder.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, in lowercase hex.
    pub sha256: String,
    /// Where its bytes are: on the hub, or kept on a node.
    #[serde(rename = "where")]
    pub stored: OutputStore,
    /// For outputs kept on a node: the node's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// For outputs kept on a node: whether the node is online now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_online: Option<bool>,
    /// For outputs kept on a node: when the node was last heard from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_last_seen: Option<Millis>,
}

/// The answer to `GET /v1/tasks/{id}/outputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OutputList {
    /// The task's id.
    pub task: String,
    /// Its outputs, by path.
    pub outputs: Vec<ListedOutput>,
}

/// A request that a node send one of its kept outputs, for a download waiting at the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FetchRequest {
    /// The request's id; the node answers `PUT /v1/agent/fetches/{id}`.
    pub id: String,
    /// The task whose output is wanted.
    pub task: String,
    /// The output's path relative to the task folder.
    pub path: String,
    /// Its sha256, as the node reported it.
    pub sha256: String,
}

/// The answer to `GET /v1/agent/fetches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FetchList {
    /// The requests waiting for this node; empty when the wait ran out.
    pub fetches: Vec<FetchRequest>,
}

/// A node's answer that it cannot send an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FetchFailure {
    /// Why, in words (e.g. the file was deleted).
    pub reason: String,
}

// ---- system information ----

/// A machine's resources, as an agent reports them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SystemInfo {
    /// The host's name.
    pub hostname: String,
    /// The operating system, e.g. "Debian GNU/Linux 12".
    pub os: String,
    /// CPU cores and load.
    pub cpu: CpuInfo,
    /// Memory in bytes.
    pub memory: MemoryInfo,
    /// The disk holding the agent's host folder.
    pub disk: DiskInfo,
    /// Whether NVIDIA GPUs can be used, and if not, why.
    pub gpu_status: GpuStatus,
    /// Each NVIDIA GPU.
    pub gpus: Vec<GpuInfo>,
    /// Anything else the agent wants shown, such as the Docker version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// CPU cores and load.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct CpuInfo {
    /// The CPU model.
    pub model: String,
    /// Logical cores.
    pub cores: u32,
    /// Use over all cores, 0–100.
    #[serde(deserialize_with = "f32_in_range", serialize_with = "f32_as_f64")]
    pub usage_percent: f32,
}

/// Memory in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MemoryInfo {
    /// Installed.
    pub total_bytes: u64,
    /// In use.
    pub used_bytes: u64,
}

/// Space on the disk of the host folder.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct DiskInfo {
    /// The folder measured.
    pub path: String,
    /// The disk's size.
    pub total_bytes: u64,
    /// Space left.
    pub free_bytes: u64,
}

/// Whether NVIDIA GPUs can be used. No driver or no GPU is a normal state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GpuStatus {
    /// NVML answered; `gpus` lists the devices.
    Available,
    /// No NVIDIA driver is installed.
    #[default]
    NoDriver,
    /// The driver is there but sees no GPU.
    NoGpu,
    /// NVML failed.
    Error {
        /// What NVML said.
        message: String,
    },
}

/// One NVIDIA GPU.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct GpuInfo {
    /// The device index.
    pub index: u32,
    /// The product name.
    pub name: String,
    /// The device's UUID.
    pub uuid: String,
    /// Use, 0–100.
    pub utilization_percent: u32,
    /// Memory in use.
    pub memory_used_bytes: u64,
    /// Memory installed.
    pub memory_total_bytes: u64,
    /// Temperature in degrees Celsius.
    pub temperature_c: Option<u32>,
}

/// Writes an `f32` as the `f64` it is exactly, so that it reads back through
/// [`f32_in_range`]: `f32::MAX` written short ("3.4028235e38") reads as a
/// number just past it.
fn f32_as_f64<S: serde::Serializer>(value: &f32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(f64::from(*value))
}

/// An `f32` that is one: a number past `f32::MAX` is refused, not read as
/// infinity (which JSON cannot write back, so the node list would break).
fn f32_in_range<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.is_finite() && value.abs() <= f64::from(f32::MAX) {
        Ok(value as f32)
    } else {
        Err(serde::de::Error::custom(format!(
            "{value} is out of range for a 32-bit float"
        )))
    }
}

#[cfg(test)]
mod f32_tests {
    use super::CpuInfo;

    #[test]
    fn the_largest_f32_reads_back_and_past_it_is_refused() {
        let cpu = CpuInfo {
            usage_percent: f32::MAX,
            ..CpuInfo::default()
        };
        let text = serde_json::to_string(&cpu).unwrap();
        assert_eq!(serde_json::from_str::<CpuInfo>(&text).unwrap(), cpu);
        let past = r#"{"model": "", "cores": 1, "usage_percent": 1e39}"#;
        assert!(serde_json::from_str::<CpuInfo>(past).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged() {
        let event: TaskEvent =
            serde_json::from_str(r#"{"event":"finished","exit_code":3}"#).unwrap();
        assert_eq!(
            event,
            TaskEvent::Finished {
                exit_code: 3,
                reason: None,
                usage: None,
            }
        );
        assert_eq!(event.target_state(), Some(TaskState::Failed));
        let ok = TaskEvent::Finished {
            exit_code: 0,
            reason: None,
            usage: None,
        };
        assert_eq!(ok.target_state(), Some(TaskState::Succeeded));
        assert!(serde_json::from_str::<TaskEvent>(r#"{"event":"exploded"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&TaskEvent::Accepted {}).unwrap(),
            r#"{"event":"accepted"}"#
        );
    }

    #[test]
    fn gpu_status_is_tagged() {
        let json = serde_json::to_string(&GpuStatus::Error {
            message: "x".into(),
        })
        .unwrap();
        assert_eq!(json, r#"{"status":"error","message":"x"}"#);
    }

    #[test]
    fn command_names() {
        for kind in [CommandKind::Cancel, CommandKind::Pause, CommandKind::Resume] {
            assert_eq!(CommandKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CommandKind::parse("explode"), None);
    }
}

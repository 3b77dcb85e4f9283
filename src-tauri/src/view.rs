//! What the UI sees: the types sent through commands and channels.
//!
//! TypeScript declarations for `ui/src/bindings/index.ts` are generated from
//! these with ts-rs; a test fails when the committed file is stale (run it
//! with `GANTRY_WRITE_BINDINGS=1` to rewrite the file).

use gantry_agent::agent::HeldView;
use serde::Serialize;
use ts_rs::TS;

/// A task's state, as the UI names it (the same words as the hub's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting on the hub.
    Queued,
    /// Given to this computer, not started yet.
    Assigned,
    /// Pulling its image.
    Pulling,
    /// Running.
    Running,
    /// Frozen.
    Paused,
    /// Exited with code 0.
    Succeeded,
    /// Exited otherwise, or could not run.
    Failed,
    /// Someone canceled it.
    Canceled,
    /// Lost contact.
    Lost,
}

impl From<gantry_protocol::TaskState> for TaskState {
    fn from(state: gantry_protocol::TaskState) -> TaskState {
        use gantry_protocol::TaskState as S;
        match state {
            S::Queued => TaskState::Queued,
            S::Assigned => TaskState::Assigned,
            S::Pulling => TaskState::Pulling,
            S::Running => TaskState::Running,
            S::Paused => TaskState::Paused,
            S::Succeeded => TaskState::Succeeded,
            S::Failed => TaskState::Failed,
            S::Canceled => TaskState::Canceled,
            S::Lost => TaskState::Lost,
        }
    }
}

/// How this computer is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// No hub or token yet: the wizard shows.
    Setup,
    /// The agent is starting.
    Connecting,
    /// The hub answers.
    Connected,
    /// The hub does not answer; tasks go on and logs wait on disk.
    Offline,
    /// Local mode: the hub runs inside the app.
    Local,
}

impl Connection {
    /// The word the UI and the tray show.
    pub fn word(self) -> &'static str {
        match self {
            Connection::Setup => "setup",
            Connection::Connecting => "connecting",
            Connection::Connected => "connected",
            Connection::Offline => "offline",
            Connection::Local => "local",
        }
    }
}

/// One check of the wizard (keychain, Docker, GPU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Check {
    /// Whether it is ready.
    pub ok: bool,
    /// One line: what was found.
    pub summary: String,
    /// What to do about it, when something is missing.
    pub guidance: Option<String>,
}

/// Which task endings raise a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
pub struct Notifications {
    /// A task succeeded.
    pub succeeded: bool,
    /// A task failed or was lost.
    pub failed: bool,
    /// A task was canceled.
    pub canceled: bool,
}

/// What the wizard needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Setup {
    /// Whether the wizard must show (no hub or no token).
    pub needs_setup: bool,
    /// The hub last used, to fill in.
    pub server: Option<String>,
    /// The storage folder.
    pub host_dir: String,
    /// The OS keychain.
    pub keychain: Check,
    /// The Docker engine.
    pub docker: Check,
    /// NVIDIA GPUs.
    pub gpu: Check,
    /// Whether the app starts when the person logs in.
    pub launch_at_login: bool,
    /// Which notifications show.
    pub notifications: Notifications,
    /// Why the agent could not start or stopped, if it did (a refused
    /// token, a host dir in use); the wizard shows it.
    pub problem: Option<String>,
}

/// A task as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct TaskView {
    /// The hub's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: TaskState,
    /// Its image (docker executor).
    pub image: Option<String>,
    /// Why it failed or was canceled.
    pub reason: Option<String>,
    /// The command's exit code, once it exited.
    pub exit_code: Option<i32>,
    /// When this app saw it start (ms since the epoch).
    #[ts(type = "number | null")]
    pub started_at_ms: Option<i64>,
    /// When it ended.
    #[ts(type = "number | null")]
    pub finished_at_ms: Option<i64>,
}

impl TaskView {
    /// A held task, started at `started_at_ms`.
    pub fn held(view: &HeldView, started_at_ms: Option<i64>) -> TaskView {
        TaskView {
            id: view.id.clone(),
            name: view.name.clone(),
            state: view.state.into(),
            image: view.image.clone(),
            reason: None,
            exit_code: None,
            started_at_ms,
            finished_at_ms: None,
        }
    }
}

/// The app's state, sent to the UI at each change.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Status {
    /// How it is connected.
    pub connection: Connection,
    /// This node's name.
    pub node: String,
    /// The hub's address.
    pub server: Option<String>,
    /// Every task is frozen and none is taken.
    pub paused: bool,
    /// When a timed pause ends (ms since the epoch).
    #[ts(type = "number | null")]
    pub paused_until_ms: Option<i64>,
    /// Running tasks finish; no new one is taken.
    pub draining: bool,
    /// The tasks held now.
    pub tasks: Vec<TaskView>,
    /// Tasks that ended while the app ran, newest first.
    pub recent: Vec<TaskView>,
    /// Why Docker cannot be used, if it cannot.
    pub docker_problem: Option<String>,
    /// Mean use of the GPUs, when there are any.
    pub gpu_percent: Option<u32>,
    /// The storage folder.
    pub host_dir: String,
}

/// An error for the UI: a stable code and a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiError {
    /// Stable: the UI may branch on it.
    pub code: String,
    /// What happened and what to do.
    pub message: String,
}

impl UiError {
    /// An error with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> UiError {
        UiError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A piece of a task's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct LogBatch {
    /// The next bytes of the log as text (invalid UTF-8 replaced).
    pub text: String,
    /// The byte offset where this piece ends.
    #[ts(type = "number")]
    pub offset: u64,
    /// The task ended and the log is complete.
    pub done: bool,
}

/// The TypeScript declarations of every type above, as one module.
#[cfg(test)]
pub fn typescript() -> String {
    let cfg = ts_rs::Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from src-tauri/src/view.rs by ts-rs; do not edit.\n\
         // Rewrite with: GANTRY_WRITE_BINDINGS=1 cargo test -p gantry-desktop bindings\n\n",
    );
    for decl in [
        TaskState::decl(&cfg),
        Connection::decl(&cfg),
        Check::decl(&cfg),
        Notifications::decl(&cfg),
        Setup::decl(&cfg),
        TaskView::decl(&cfg),
        Status::decl(&cfg),
        UiError::decl(&cfg),
        LogBatch::decl(&cfg),
    ] {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings/index.ts");
        let generated = typescript();
        if std::env::var_os("GANTRY_WRITE_BINDINGS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "ui/src/bindings/index.ts is stale; rewrite it with: GANTRY_WRITE_BINDINGS=1 cargo test -p gantry-desktop bindings"
        );
    }
}

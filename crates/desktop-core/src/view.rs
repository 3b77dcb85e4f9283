//! What the UI sees: the types sent through commands and channels.
//!
//! TypeScript declarations for `ui/src/bindings/index.ts` are generated from
//! these with ts-rs ([`typescript`]); the app's test `bindings` fails when
//! the committed file is stale (run it with `GANTRY_WRITE_BINDINGS=1` to
//! rewrite the file). They live here, not in the app, because the core
//! answers with them.

use gantry_agent::node::HeldView;
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
    /// The CA file last used, to fill in.
    pub ca_file: Option<String>,
    /// Whether plain http to a hub elsewhere was allowed last time.
    pub allow_insecure_http: bool,
    /// The hub's sentence when it removed this computer's node or replaced
    /// its token (then `problem` is null): the wizard shows it as the reason
    /// it came back.
    pub reason: Option<String>,
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
    /// How far its image pull is, while it pulls.
    pub pull: Option<PullView>,
}

/// An image pull's progress: bytes over the layers known so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct PullView {
    /// Bytes downloaded.
    #[ts(type = "number")]
    pub done_bytes: u64,
    /// Bytes to download (grows as layers become known; 0 at first).
    #[ts(type = "number")]
    pub total_bytes: u64,
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
            pull: view.pull.map(|p| PullView {
                done_bytes: p.done,
                total_bytes: p.total,
            }),
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
    /// While the agent steps aside for the person, why, as the tray says
    /// it ("Paused while you use this computer").
    pub yielding: Option<String>,
}

/// What a window just built should open: the app builds its window only
/// when shown, too late for it to hear the event that asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Intent {
    /// A task's detail (a notification about it was clicked).
    Task {
        /// The task's id.
        id: String,
    },
    /// The Settings screen (the tray's "Settings…", an update's notification).
    Settings,
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
    /// When each line that begins in `text` was written (ms since the
    /// epoch), in order; empty where the log has no times (older logs).
    #[ts(type = "number[]")]
    pub line_ms: Vec<i64>,
}

/// Whether NVIDIA GPUs can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum GpuState {
    /// NVML answered; the sample lists the GPUs.
    Available,
    /// No NVIDIA driver is installed.
    NoDriver,
    /// The driver sees no GPU.
    NoGpu,
    /// NVML failed; `gpu_message` says how.
    Error,
}

/// One GPU at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct GpuSample {
    /// The device index.
    pub index: u32,
    /// The product name.
    pub name: String,
    /// Use, 0–100.
    pub utilization_percent: u32,
    /// Memory in use.
    #[ts(type = "number")]
    pub memory_used_bytes: u64,
    /// Memory installed.
    #[ts(type = "number")]
    pub memory_total_bytes: u64,
    /// Degrees Celsius.
    pub temperature_c: Option<u32>,
}

/// The machine at one moment (one per second).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct MetricsSample {
    /// When (ms since the epoch).
    #[ts(type = "number")]
    pub at_ms: i64,
    /// CPU use over all cores, 0–100.
    pub cpu_percent: f32,
    /// Logical cores.
    pub cpu_cores: u32,
    /// Memory in use.
    #[ts(type = "number")]
    pub memory_used_bytes: u64,
    /// Memory installed.
    #[ts(type = "number")]
    pub memory_total_bytes: u64,
    /// The size of the disk holding the storage folder.
    #[ts(type = "number")]
    pub disk_total_bytes: u64,
    /// Space left on it.
    #[ts(type = "number")]
    pub disk_free_bytes: u64,
    /// Whether NVIDIA GPUs can be used.
    pub gpu_state: GpuState,
    /// Why not, when NVML failed.
    pub gpu_message: Option<String>,
    /// Each GPU.
    pub gpus: Vec<GpuSample>,
}

impl MetricsSample {
    /// A sample from the agent monitor's reading, taken at `at_ms`.
    pub fn new(info: &gantry_protocol::wire::SystemInfo, at_ms: i64) -> MetricsSample {
        use gantry_protocol::wire::GpuStatus;
        let (gpu_state, gpu_message) = match &info.gpu_status {
            GpuStatus::Available => (GpuState::Available, None),
            GpuStatus::NoDriver => (GpuState::NoDriver, None),
            GpuStatus::NoGpu => (GpuState::NoGpu, None),
            GpuStatus::Error { message } => (GpuState::Error, Some(message.clone())),
        };
        MetricsSample {
            at_ms,
            cpu_percent: info.cpu.usage_percent,
            cpu_cores: info.cpu.cores,
            memory_used_bytes: info.memory.used_bytes,
            memory_total_bytes: info.memory.total_bytes,
            disk_total_bytes: info.disk.total_bytes,
            disk_free_bytes: info.disk.free_bytes,
            gpu_state,
            gpu_message,
            gpus: info
                .gpus
                .iter()
                .map(|g| GpuSample {
                    index: g.index,
                    name: g.name.clone(),
                    utilization_percent: g.utilization_percent,
                    memory_used_bytes: g.memory_used_bytes,
                    memory_total_bytes: g.memory_total_bytes,
                    temperature_c: g.temperature_c,
                })
                .collect(),
        }
    }
}

/// A container Gantry made, with what it uses.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ContainerView {
    /// Docker's id (short).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The task it runs for.
    pub task_id: Option<String>,
    /// That task's name, when known.
    pub task_name: Option<String>,
    /// `main`, `epilogue` or `service:<name>`.
    pub role: String,
    /// Its image.
    pub image: String,
    /// Docker's state: `running`, `paused`, `exited`, `created`, …
    pub state: String,
    /// Docker's words, e.g. "Up 5 minutes".
    pub status: String,
    /// When it was made (ms since the epoch).
    #[ts(type = "number")]
    pub created_ms: i64,
    /// CPU use, in percent of one core (running containers only).
    pub cpu_percent: Option<f64>,
    /// Memory in use.
    #[ts(type = "number | null")]
    pub memory_bytes: Option<u64>,
    /// Its memory limit (the machine's memory when it has none).
    #[ts(type = "number | null")]
    pub memory_limit_bytes: Option<u64>,
}

/// When a task entered a state, as this app saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct TimelineEntry {
    /// The state.
    pub state: TaskState,
    /// When (ms since the epoch).
    #[ts(type = "number")]
    pub at_ms: i64,
}

/// A file a task left in storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct OutputView {
    /// Its path in the storage folder, for the Storage screen.
    pub path: String,
    /// Its path in the task folder, as the job named it.
    pub name: String,
    /// Its size.
    #[ts(type = "number")]
    pub size_bytes: u64,
}

/// What one task uses now.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct TaskUsage {
    /// CPU, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// Memory in use.
    #[ts(type = "number | null")]
    pub memory_bytes: Option<u64>,
    /// Its memory limit.
    #[ts(type = "number | null")]
    pub memory_limit_bytes: Option<u64>,
    /// GPU memory its processes hold, where NVML can tell.
    #[ts(type = "number | null")]
    pub gpu_memory_bytes: Option<u64>,
}

/// Everything the Task detail screen shows besides the log.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct TaskDetail {
    /// The task.
    pub task: TaskView,
    /// Its job spec, as YAML; `None` when this app never saw it.
    pub spec: Option<String>,
    /// Its states, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Its folder in storage (for the Storage screen), when it exists.
    pub folder: Option<String>,
    /// Its output files kept in storage.
    pub outputs: Vec<OutputView>,
    /// The log's size so far.
    #[ts(type = "number")]
    pub log_bytes: u64,
    /// What it uses now, while it runs.
    pub usage: Option<TaskUsage>,
    /// What it did with the GPUs it held (memory, utilization, energy,
    /// GPU-seconds, a chart's series); `None` for a task that held none.
    pub gpu_use: Option<crate::gpu_use::TaskGpuUseView>,
}

/// One entry of a storage folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct StorageEntry {
    /// Its name.
    pub name: String,
    /// Its path from the storage folder, with `/`.
    pub path: String,
    /// A folder (links are never followed and count as files).
    pub dir: bool,
    /// Its size; a folder's is everything inside it.
    #[ts(type = "number")]
    pub size_bytes: u64,
    /// Last change (ms since the epoch); a folder's is its newest entry's.
    #[ts(type = "number")]
    pub modified_ms: i64,
    /// Files inside a folder (0 for a file).
    #[ts(type = "number")]
    pub files: u64,
    /// Whether it may be deleted now (not a running task's, not the
    /// agent's own files).
    pub deletable: bool,
}

/// A storage folder's entries, and the disk it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct StorageListing {
    /// The folder, from the storage folder (`""` for the top).
    pub path: String,
    /// The storage folder itself, in full, to show.
    pub root: String,
    /// Its entries, largest first.
    pub entries: Vec<StorageEntry>,
    /// Everything in this folder.
    #[ts(type = "number")]
    pub total_bytes: u64,
    /// The disk's size.
    #[ts(type = "number")]
    pub disk_total_bytes: u64,
    /// Space left on the disk.
    #[ts(type = "number")]
    pub disk_free_bytes: u64,
}

/// The node's settings as the Settings screen shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct NodeSettings {
    /// `remote`, `local`, or `null` before the wizard.
    pub mode: Option<String>,
    /// The hub, in remote mode.
    pub server: Option<String>,
    /// Whether a token is kept (it is never shown).
    pub token_saved: bool,
    /// The CA file trusted besides the system's roots, if any.
    pub ca_file: Option<String>,
    /// The node's name: at a hub elsewhere the hub's (read-only, see
    /// `name_note`); in local mode the embedded hub's, which saving renames.
    pub name: String,
    /// When set, the name cannot be changed here and this sentence says who
    /// changes it (a hub elsewhere: its admin, with `gantry node rename`).
    pub name_note: Option<String>,
    /// Labels added to the hub's.
    pub labels: Vec<String>,
    /// How many tasks run at once.
    pub max_tasks: u32,
    /// The storage folder.
    pub host_dir: String,
    /// Outputs stay in local storage rather than being uploaded.
    pub with_local_storage: bool,
    /// A task's folder is removed when it succeeds.
    pub delete_task_dir_on_finish: bool,
    /// …and when it fails.
    pub delete_task_dir_on_failure: bool,
    /// Which notifications show.
    pub notifications: Notifications,
    /// Whether the app starts at login.
    pub launch_at_login: bool,
    /// Fields fixed by the environment or agent.toml (their names as
    /// above, and `yielding` or `reserve_gpus` for the rules below); the
    /// screen shows them read-only.
    pub locked: Vec<String>,
    /// "When to step aside": the yield rules and the GPUs kept for the person.
    pub step_aside: crate::step_aside::StepAside,
    /// "Which images may run here" (locked as `image_policy`).
    pub image_policy: crate::image_policy::ImageChoice,
    /// "Task isolation": network, read-only root, pids limit (locked as
    /// `hardening`).
    pub task_isolation: crate::task_isolation::TaskIsolation,
}

/// What the Settings screen saves; the agent restarts to apply it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, TS)]
pub struct NodeSettingsChange {
    /// The name shown for this node.
    pub name: String,
    /// Labels, `key=value` or plain words.
    pub labels: Vec<String>,
    /// How many tasks run at once (1 or more).
    pub max_tasks: u32,
    /// The storage folder.
    pub host_dir: String,
    /// Keep outputs locally.
    pub with_local_storage: bool,
    /// Remove a task's folder when it succeeds.
    pub delete_task_dir_on_finish: bool,
    /// …when it fails.
    pub delete_task_dir_on_failure: bool,
}

/// The local-mode "New task" form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, TS)]
pub struct NewTask {
    /// A name; the image's when empty.
    pub name: String,
    /// The image.
    pub image: String,
    /// The command, split like a shell would (quotes kept together); the
    /// image's own command when empty.
    pub command: String,
    /// Environment variables, `NAME=value` each.
    pub env: Vec<String>,
    /// `""` (none), `all`, a count (`2`) or indices (`0,1`).
    pub gpus: String,
}

/// What the Settings screen shows of the app's own updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UpdateState {
    /// This app's version.
    pub current_version: String,
    /// Whether this build carries the update key; a build without one (a
    /// developer's) never checks.
    pub has_key: bool,
    /// The update server's address (the manifest's URL), as set; `None`:
    /// updates are off.
    pub endpoint: Option<String>,
    /// `GANTRY_UPDATE_ENDPOINT` sets the address: the screen shows it
    /// read-only.
    pub endpoint_locked: bool,
    /// The last check since the app started, if any.
    pub last_check: Option<UpdateCheck>,
    /// A newer version the server offers.
    pub available: Option<AvailableUpdate>,
    /// An update is being downloaded or installed.
    pub installing: bool,
}

/// One check of the update server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UpdateCheck {
    /// When it ended (ms since the epoch).
    #[ts(type = "number")]
    pub at_ms: i64,
    /// Why it failed, as a sentence; `None` when it succeeded.
    pub error: Option<String>,
}

/// A newer version of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AvailableUpdate {
    /// Its version, e.g. `0.2.0`.
    pub version: String,
    /// Its release notes, as plain text.
    pub notes: Option<String>,
    /// When it was published (ms since the epoch), when the server says.
    #[ts(type = "number | null")]
    pub published_ms: Option<i64>,
}

/// Where installing an update is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStep {
    /// Downloading; the bytes say how far.
    Downloading,
    /// Downloaded and its signature verified; installing.
    Installing,
    /// Installed; the app restarts.
    Restarting,
}

/// Progress of an update's installation, sent over a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct UpdateProgress {
    /// The step.
    pub step: UpdateStep,
    /// Bytes downloaded.
    #[ts(type = "number")]
    pub done_bytes: u64,
    /// Bytes to download, when the server says.
    #[ts(type = "number | null")]
    pub total_bytes: Option<u64>,
}

/// The TypeScript declarations of every type above, as one module: the
/// content of `ui/src/bindings/index.ts`.
pub fn typescript() -> String {
    let cfg = ts_rs::Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from crates/desktop-core/src/view.rs by ts-rs; do not edit.\n\
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
        Intent::decl(&cfg),
        LogBatch::decl(&cfg),
        PullView::decl(&cfg),
        GpuState::decl(&cfg),
        GpuSample::decl(&cfg),
        MetricsSample::decl(&cfg),
        ContainerView::decl(&cfg),
        TimelineEntry::decl(&cfg),
        OutputView::decl(&cfg),
        TaskUsage::decl(&cfg),
        crate::gpu_use::GpuUsePointView::decl(&cfg),
        crate::gpu_use::TaskGpuUseView::decl(&cfg),
        TaskDetail::decl(&cfg),
        StorageEntry::decl(&cfg),
        StorageListing::decl(&cfg),
        crate::step_aside::StepAction::decl(&cfg),
        crate::step_aside::StepAside::decl(&cfg),
        crate::image_policy::ImageRule::decl(&cfg),
        crate::image_policy::ImageChoice::decl(&cfg),
        crate::task_isolation::NetworkChoice::decl(&cfg),
        crate::task_isolation::TaskIsolation::decl(&cfg),
        crate::disk_budget::DiskSettings::decl(&cfg),
        crate::disk_budget::DiskUse::decl(&cfg),
        crate::disk_budget::DiskThing::decl(&cfg),
        crate::disk_budget::DiskBudgetView::decl(&cfg),
        NodeSettings::decl(&cfg),
        NodeSettingsChange::decl(&cfg),
        NewTask::decl(&cfg),
        UpdateState::decl(&cfg),
        UpdateCheck::decl(&cfg),
        AvailableUpdate::decl(&cfg),
        UpdateStep::decl(&cfg),
        UpdateProgress::decl(&cfg),
        crate::health::HealthStatus::decl(&cfg),
        crate::health::HealthCheck::decl(&cfg),
        crate::this_week::ThisWeek::decl(&cfg),
    ] {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

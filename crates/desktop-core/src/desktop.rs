//! [`Desktop`]: the desktop app's hold on the agent core. It runs the agent
//! on the app's tokio runtime (and, in local mode, the embedded hub), makes
//! the [`Status`] the tray and the UI show, and answers the dashboard.
//!
//! It is not a hub node: the agent it runs is the node. What it keeps is
//! split into parts named for what they hold, each a small type with its own
//! lock ([`SettingsFile`], the agent's slot, why the agent stopped, the task
//! views, the task details, the timed pause, the metrics history, the shared
//! monitor, the log follows, the jobs), so each lock guards one thing and
//! says which. No lock is held across an `.await`; where two are held at once
//! the order is: task views, then task details.
//!
//! Every job spawned here is tracked by one [`TaskTracker`] and stopped by
//! one [`CancellationToken`], both awaited at Quit ([`Desktop::shutdown`]).
//!
//! The answers are in submodules, by what they answer: the wizard, the
//! running agent, the status, the actions on tasks, the metrics, the log
//! follows, containers, Task detail, the Storage and Settings screens, and
//! local mode's new tasks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_agent::node::Agent;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::settings::{Settings, SettingsFile};
use crate::view::{Connection, Status, TaskView, UiError};

mod actions;
mod containers;
mod detail;
mod disk_screen;
mod follows;
mod image_policy_screen;
mod metrics;
mod running;
mod settings_screen;
mod status;
mod storage_screen;
mod submit;
mod task_isolation_screen;
mod wizard;

pub use wizard::HubTrust;

use actions::TimedPause;
use detail::TaskDetails;
use follows::LogFollows;
use metrics::{MetricsHistory, SharedMonitor};
use running::{AgentFailure, AgentSlot};
use status::TaskViews;

/// The agent core inside the app, and what the tray and the UI show of it.
pub struct Desktop {
    /// `desktop.json`, and the settings now.
    settings: SettingsFile,
    /// The agent running now, if any.
    agent: AgentSlot,
    /// Why the agent stopped on its own (a refused token, say).
    failure: AgentFailure,
    /// The status, sent to the tray and the UI at each change.
    status: watch::Sender<Status>,
    /// The held tasks' last views and the recently ended ones.
    views: TaskViews,
    /// What Task detail shows of each task seen: its spec and timeline.
    details: TaskDetails,
    /// A pause of every task that ends by itself.
    pause: TimedPause,
    /// The machine's samples of the last minutes.
    metrics: MetricsHistory,
    /// The sampler's monitor, also asked which processes hold GPU memory.
    monitor: SharedMonitor,
    /// The log subscriptions of the windows.
    follows: LogFollows,
    /// Every job spawned here.
    jobs: Jobs,
}

/// The app's one tree of jobs: one token stops them all, one tracker waits
/// for them at Quit.
#[derive(Debug, Default)]
struct Jobs {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop").finish_non_exhaustive()
    }
}

impl Desktop {
    /// The app with no agent yet; `settings_path` is its settings file.
    pub fn new(settings_path: PathBuf, settings: Settings) -> Arc<Desktop> {
        let host_dir = crate::config::resolve(&settings)
            .map(|c| c.host_dir.display().to_string())
            .unwrap_or_default();
        Arc::new(Desktop {
            settings: SettingsFile::new(settings_path, settings),
            agent: AgentSlot::default(),
            failure: AgentFailure::default(),
            status: watch::channel(Status {
                connection: Connection::Setup,
                node: String::new(),
                server: None,
                paused: false,
                paused_until_ms: None,
                draining: false,
                tasks: Vec::new(),
                recent: Vec::new(),
                docker_problem: None,
                gpu_percent: None,
                host_dir,
                yielding: None,
            })
            .0,
            views: TaskViews::new(),
            details: TaskDetails::default(),
            pause: TimedPause::default(),
            metrics: MetricsHistory::new(),
            monitor: SharedMonitor::default(),
            follows: LogFollows::default(),
            jobs: Jobs::default(),
        })
    }

    /// Tracks a job of the app's, stopped by [`Desktop::stopping`] and
    /// awaited at Quit.
    pub fn spawn<F>(&self, job: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.jobs.tracker.spawn(job);
    }

    /// Cancelled when the app quits.
    pub fn stopping(&self) -> CancellationToken {
        self.jobs.stop.clone()
    }

    /// The app's job tracker.
    pub fn tracker(&self) -> &TaskTracker {
        &self.jobs.tracker
    }

    /// The settings now.
    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    /// The storage folder.
    pub fn host_dir(&self) -> PathBuf {
        PathBuf::from(self.status.borrow().host_dir.clone())
    }

    /// The running agent, or why there is none.
    pub(crate) fn agent(&self) -> Result<Agent, UiError> {
        self.agent.agent()
    }

    /// Whether tasks are held now (Quit asks what to do with them).
    pub fn holds_tasks(&self) -> bool {
        !self.status().tasks.is_empty()
    }

    /// Hears about each task that ends (for notifications).
    pub fn ended(&self) -> tokio::sync::broadcast::Receiver<TaskView> {
        self.views.ended()
    }

    /// Follows the status; the receiver sees the current one first.
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// The status now.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Stops everything: the agent (cancelling its tasks with `stop_tasks`,
    /// else leaving their containers for the next start), the local hub,
    /// every job; waits for them, at most `patience`.
    pub async fn shutdown(&self, stop_tasks: bool, patience: Duration) {
        self.agent.set_stop_tasks_on_exit(stop_tasks);
        self.jobs.stop.cancel();
        self.jobs.tracker.close();
        if tokio::time::timeout(patience, self.jobs.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some jobs did not stop in time");
        }
    }
}

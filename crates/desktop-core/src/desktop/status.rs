//! The status the tray and the UI show: made from the agent's own each
//! second and at each of its events, and sent only when it changed.
//!
//! The agent forgets a task when it ends; the app remembers it a while
//! ([`TaskViews`]) so the UI can list what ended and notifications can say
//! how.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gantry_agent::node::{AgentEvent, HeldView};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::detail::TaskDetails;
use gantry_agent::clock::now_ms;

use super::Desktop;
use crate::view::{Connection, Status, TaskState, TaskView};

/// How many ended tasks the UI lists.
const RECENT: usize = 50;

/// The tasks the UI lists beyond what the agent holds: the last view of each
/// held task (kept to describe it once it ends), and the tasks that ended
/// while the app ran, newest first. Each end is told to whoever listens
/// (notifications).
#[derive(Debug)]
pub(super) struct TaskViews {
    memory: Mutex<Memory>,
    ended: broadcast::Sender<TaskView>,
}

#[derive(Debug, Default)]
struct Memory {
    /// The last view of each held task, by id.
    seen: HashMap<String, TaskView>,
    /// Tasks that ended, newest first, at most [`RECENT`].
    recent: VecDeque<TaskView>,
}

impl TaskViews {
    pub(super) fn new() -> TaskViews {
        TaskViews {
            memory: Mutex::default(),
            ended: broadcast::channel(64).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().expect("task views poisoned")
    }

    /// The tasks that ended, newest first.
    pub(super) fn recent(&self) -> Vec<TaskView> {
        self.lock().recent.iter().cloned().collect()
    }

    /// Views of the tasks held now, started when first seen (`now` for a
    /// new one); `observe` hears each one's state, with the views locked.
    pub(super) fn held(
        &self,
        tasks: &[HeldView],
        now: i64,
        observe: impl Fn(&str, TaskState),
    ) -> Vec<TaskView> {
        let mut memory = self.lock();
        tasks
            .iter()
            .map(|held| {
                let started = memory
                    .seen
                    .get(&held.id)
                    .and_then(|t| t.started_at_ms)
                    .or(Some(now));
                let view = TaskView::held(held, started);
                observe(&held.id, view.state);
                memory.seen.insert(held.id.clone(), view.clone());
                view
            })
            .collect()
    }

    /// Forgets a held task's last view, and returns it.
    fn take_seen(&self, id: &str) -> Option<TaskView> {
        self.lock().seen.remove(id)
    }

    /// Puts a task that ended at the top of the recent ones, lets `details`
    /// forget the tasks no longer listed, and tells the listeners.
    fn end(&self, view: TaskView, details: &TaskDetails) {
        {
            let mut memory = self.lock();
            memory.recent.retain(|t| t.id != view.id);
            memory.recent.push_front(view.clone());
            memory.recent.truncate(RECENT);
            details.keep(|id| {
                memory.seen.contains_key(id) || memory.recent.iter().any(|t| t.id == id)
            });
        }
        let _ = self.ended.send(view);
    }

    /// Hears about each task that ends.
    pub(super) fn ended(&self) -> broadcast::Receiver<TaskView> {
        self.ended.subscribe()
    }
}

impl Desktop {
    /// Makes the status from the agent's every second, so what changes
    /// without an event (a pull's progress, the connection) shows.
    pub(super) fn spawn_status_ticker(self: &std::sync::Arc<Desktop>) {
        let desktop = std::sync::Arc::clone(self);
        let stop = self.jobs.stop.clone();
        self.jobs.tracker.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => desktop.refresh(),
                }
            }
        });
    }

    /// Sends the status through `send` now and at each change, until `send`
    /// fails (the window went away) or the app quits.
    pub fn watch_status(&self, send: impl Fn(Status) -> bool + Send + 'static) {
        let mut watch = self.watch();
        let stop = self.jobs.stop.clone();
        self.jobs.tracker.spawn(async move {
            loop {
                let status = watch.borrow_and_update().clone();
                if !send(status) {
                    return;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = watch.changed() => if changed.is_err() { return },
                }
            }
        });
    }

    /// Makes the status from the agent's and sends it if it changed.
    pub fn refresh(&self) {
        let status = self.compute();
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }

    fn compute(&self) -> Status {
        let recent = self.views.recent();
        let gpu_percent = self.metrics.gpu_percent();
        let paused_until_ms = self.pause.until_ms();
        let Some(running) = self.agent.get() else {
            let previous = self.status.borrow();
            if self.agent.restarting() {
                // Between the old agent and the new: as it was.
                return previous.clone();
            }
            return Status {
                connection: Connection::Setup,
                node: previous.node.clone(),
                server: None,
                paused: false,
                paused_until_ms: None,
                draining: false,
                tasks: Vec::new(),
                recent,
                docker_problem: None,
                gpu_percent,
                host_dir: previous.host_dir.clone(),
                yielding: None,
            };
        };
        let agent = running.agent.status();
        if agent.connected {
            running.ever_connected.store(true, Ordering::SeqCst);
        }
        let connection = match (
            running.local,
            agent.connected,
            running.ever_connected.load(Ordering::SeqCst),
        ) {
            (true, _, _) => Connection::Local,
            (false, true, _) => Connection::Connected,
            (false, false, true) => Connection::Offline,
            (false, false, false) if self.failure().is_some() => Connection::Offline,
            (false, false, false) => Connection::Connecting,
        };
        let tasks = self.views.held(&agent.tasks, now_ms(), |id, state| {
            self.details.observe(id, state, Some(&running.agent))
        });
        Status {
            connection,
            // The hub's name for this node (a rename reaches it with the next heartbeat).
            node: agent.node.clone().unwrap_or(agent.name),
            server: if running.local { None } else { agent.server },
            paused: agent.mode.paused,
            paused_until_ms,
            draining: agent.mode.draining,
            tasks,
            recent,
            docker_problem: agent.docker_problem,
            gpu_percent,
            host_dir: agent.host_dir,
            yielding: agent
                .yielding
                .as_ref()
                .map(|y| crate::step_aside::yield_line(&y.reason)),
        }
    }

    /// Follows the agent's events until `stop`: an ended task joins the
    /// recent ones; any event makes the status again.
    pub(super) async fn follow_events(
        self: std::sync::Arc<Desktop>,
        mut events: broadcast::Receiver<AgentEvent>,
        stop: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(AgentEvent::TaskFinished {
                    id,
                    name,
                    state,
                    reason,
                    exit_code,
                }) => {
                    let mut view = self.views.take_seen(&id).unwrap_or(TaskView {
                        id: id.clone(),
                        name: name.clone(),
                        state: state.into(),
                        image: None,
                        reason: None,
                        exit_code: None,
                        started_at_ms: None,
                        finished_at_ms: None,
                        pull: None,
                    });
                    view.state = state.into();
                    view.reason = reason;
                    view.exit_code = exit_code.and_then(|c| i32::try_from(c).ok());
                    view.finished_at_ms = Some(now_ms());
                    view.pull = None;
                    self.details.observe(&id, view.state, None);
                    self.views.end(view, &self.details);
                    self.refresh();
                }
                Ok(
                    AgentEvent::TaskStarted { .. }
                    | AgentEvent::Yielding { .. }
                    | AgentEvent::Resumed,
                ) => self.refresh(),
                Err(broadcast::error::RecvError::Lagged(_)) => self.refresh(),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str) -> TaskView {
        TaskView {
            id: id.into(),
            name: id.into(),
            state: TaskState::Succeeded,
            image: None,
            reason: None,
            exit_code: Some(0),
            started_at_ms: None,
            finished_at_ms: None,
            pull: None,
        }
    }

    #[test]
    fn ended_tasks_are_listed_newest_first_and_forgotten_past_the_last() {
        let views = TaskViews::new();
        let details = TaskDetails::default();
        let mut ended = views.ended();
        for i in 0..=RECENT {
            let id = format!("t{i}");
            details.observe(&id, TaskState::Running, None);
            views.end(view(&id), &details);
            assert_eq!(ended.try_recv().unwrap().id, id, "told at once");
        }
        let recent = views.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].id, format!("t{RECENT}"), "newest first");
        assert!(recent.iter().all(|t| t.id != "t0"), "the oldest went");
        // Task detail forgets what the list no longer shows.
        let kept = std::cell::RefCell::new(Vec::new());
        details.keep(|id| {
            kept.borrow_mut().push(id.to_owned());
            true
        });
        let kept = kept.into_inner();
        assert_eq!(kept.len(), RECENT);
        assert!(!kept.contains(&"t0".to_owned()));
        // A task that ends again moves to the top, once.
        views.end(view("t7"), &details);
        let recent = views.recent();
        assert_eq!(recent[0].id, "t7");
        assert_eq!(recent.iter().filter(|t| t.id == "t7").count(), 1);
    }

    #[tokio::test]
    async fn the_status_is_sent_at_once_then_at_each_change_until_quit() {
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::new(
            dir.path().join("desktop.json"),
            crate::settings::Settings::default(),
        );
        let (sent, mut received) = tokio::sync::mpsc::unbounded_channel();
        desktop.watch_status(move |status| sent.send(status).is_ok());
        let first = received.recv().await.unwrap();
        assert_eq!(first.connection, Connection::Setup);
        assert!(first.recent.is_empty());
        desktop.refresh();
        desktop.views.end(view("t1"), &desktop.details);
        desktop.refresh();
        let second = received.recv().await.unwrap();
        assert_eq!(second.recent[0].id, "t1", "only a change is sent");
        desktop.shutdown(false, Duration::from_secs(5)).await;
        assert!(received.recv().await.is_none(), "the watch ended at Quit");
    }
}

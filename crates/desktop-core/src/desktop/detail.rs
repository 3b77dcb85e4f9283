//! Task detail's answers: a task's spec and state timeline, its folder and
//! outputs in storage, its log's size, what it uses while it runs and what
//! it did with its GPUs; and
//! its whole log, saved where the person chose.
//!
//! The agent keeps no history, so the app remembers what it saw of each task
//! ([`TaskDetails`]); in local mode the embedded hub knows every task with
//! its whole history, and is asked first.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use gantry_agent::host::HostDir;
use gantry_agent::node::Agent;
use gantry_agent::record::Records;
use gantry_protocol::job::JobSpec;
use gantry_protocol::wire::Task;

use gantry_agent::clock::now_ms;

use super::Desktop;
use crate::view::{OutputView, TaskDetail, TaskState, TaskUsage, TaskView, TimelineEntry, UiError};

/// What Task detail shows of each task seen: its spec and state timeline,
/// kept while the task is held or listed as recent.
#[derive(Debug, Default)]
pub(super) struct TaskDetails {
    by_task: Mutex<HashMap<String, Detail>>,
}

/// What the app remembers of a task for its detail screen.
#[derive(Debug, Default)]
struct Detail {
    /// The job spec as YAML, read from the task's record when first seen.
    spec: Option<String>,
    /// Each state seen, oldest first.
    timeline: Vec<TimelineEntry>,
}

impl TaskDetails {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Detail>> {
        self.by_task.lock().expect("details poisoned")
    }

    /// Notes a task's state for its timeline; on first sight reads its spec
    /// from the task's record (through `agent`'s host dir).
    pub(super) fn observe(&self, id: &str, state: TaskState, agent: Option<&Agent>) {
        let mut details = self.lock();
        let detail = details.entry(id.to_owned()).or_insert_with(|| {
            let mut detail = Detail::default();
            if let Some(record) = agent.and_then(|a| Records::new(a.host().clone()).load(id)) {
                detail.spec = spec_yaml(&record.task.spec);
                detail.timeline.push(TimelineEntry {
                    state: TaskState::Queued,
                    at_ms: record.task.created_at,
                });
            }
            detail
        });
        if detail
            .timeline
            .last()
            .is_none_or(|last| last.state != state)
        {
            detail.timeline.push(TimelineEntry {
                state,
                at_ms: now_ms(),
            });
        }
    }

    /// A task's spec and timeline, as far as they were seen.
    fn get(&self, id: &str) -> (Option<String>, Vec<TimelineEntry>) {
        let details = self.lock();
        let detail = details.get(id);
        (
            detail.and_then(|d| d.spec.clone()),
            detail.map(|d| d.timeline.clone()).unwrap_or_default(),
        )
    }

    /// Forgets every task but those `listed`.
    pub(super) fn keep(&self, listed: impl Fn(&str) -> bool) {
        self.lock().retain(|id, _| listed(id));
    }
}

fn spec_yaml(spec: &JobSpec) -> Option<String> {
    serde_norway::to_string(spec).ok()
}

impl Desktop {
    /// A task held now or ended while the app ran, as the status lists it.
    fn find_task(&self, id: &str) -> Option<TaskView> {
        let status = self.status.borrow();
        status
            .tasks
            .iter()
            .chain(status.recent.iter())
            .find(|t| t.id == id)
            .cloned()
    }

    /// Everything Task detail shows besides the log.
    pub async fn task_detail(&self, id: &str) -> Result<TaskDetail, UiError> {
        let agent = self.agent()?;
        let host = agent.host().clone();
        // In local mode the hub knows every task, with its whole history.
        let from_hub: Option<Task> = match self.agent.admin() {
            Some(admin) => admin.task(id).await.ok(),
            None => None,
        };
        let task = match (self.find_task(id), &from_hub) {
            (Some(view), _) => view,
            (None, Some(task)) => hub_task_view(task),
            (None, None) => {
                return Err(UiError::new(
                    "unknown_task",
                    format!(
                        "task {id} is not known here (the app lists tasks that ran since it started)"
                    ),
                ));
            }
        };
        let (spec, timeline) = match &from_hub {
            Some(hub) => (
                spec_yaml(&hub.spec),
                hub.history
                    .iter()
                    .map(|t| TimelineEntry {
                        state: t.state.into(),
                        at_ms: t.at,
                    })
                    .collect(),
            ),
            None => self.details.get(id),
        };
        let task = match &from_hub {
            // The hub has the exit code and reason of a task that ended
            // before this app started.
            Some(hub) => TaskView {
                exit_code: task
                    .exit_code
                    .or(hub.exit_code.and_then(|c| i32::try_from(c).ok())),
                reason: task.reason.or(hub.reason.clone()),
                ..task
            },
            None => task,
        };
        let folder = host.task_dir(id);
        let folder = folder
            .is_dir()
            .then(|| format!("tasks/{}", dir_name(&folder)));
        let outputs = {
            let host = host.clone();
            let id = id.to_owned();
            tokio::task::spawn_blocking(move || outputs(&host, &id))
                .await
                .unwrap_or_default()
        };
        let log_bytes = agent
            .log_path(id)
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        let usage = if agent.holds(id) {
            self.task_usage(&agent, id).await
        } else {
            None
        };
        // The agent's own figures (with the chart's series) for a task it
        // ran; else what the hub keeps.
        let gpu_use = agent
            .gpu_use(id)
            .or_else(|| from_hub.as_ref().and_then(|hub| hub.gpu_use.clone()))
            .as_ref()
            .map(crate::gpu_use::TaskGpuUseView::from);
        Ok(TaskDetail {
            task,
            spec,
            timeline,
            folder,
            outputs,
            log_bytes,
            usage,
            gpu_use,
        })
    }

    /// CPU and memory of a task's main container, and the GPU memory its
    /// processes hold where NVML can tell.
    async fn task_usage(&self, agent: &Agent, id: &str) -> Option<TaskUsage> {
        let engine = agent.engine().ok()?;
        let found = engine.containers(Some(id)).await.ok()?;
        let main = found
            .into_iter()
            .find(|c| c.task_id.as_deref() == Some(id) && c.role == "main")?;
        let gpu_memory_bytes = match self.monitor.get() {
            Some(monitor) if main.state == "running" => {
                let pids: HashSet<u32> = engine.host_pids(&main.id).await.into_iter().collect();
                let held = tokio::task::spawn_blocking(move || {
                    let monitor = monitor.lock().expect("monitor poisoned");
                    (monitor.gpu_count() > 0).then(|| monitor.gpu_processes())
                })
                .await
                .ok()
                .flatten();
                held.map(|processes| {
                    processes
                        .iter()
                        .filter(|(pid, _)| pids.contains(pid))
                        .map(|(_, bytes)| bytes)
                        .sum()
                })
            }
            _ => None,
        };
        Some(TaskUsage {
            cpu_percent: main.cpu_percent,
            memory_bytes: main.memory_bytes,
            memory_limit_bytes: main.memory_limit_bytes,
            gpu_memory_bytes,
        })
    }

    /// The task's whole log, copied to `to`.
    pub async fn save_log(&self, id: &str, to: &Path) -> Result<(), UiError> {
        let from = self.agent()?.log_path(id).ok_or_else(|| {
            UiError::new("no_log", format!("task {id} has no log on this computer"))
        })?;
        tokio::fs::copy(&from, to)
            .await
            .map_err(|e| UiError::new("save_log", format!("cannot write {}: {e}", to.display())))?;
        Ok(())
    }
}

/// The folder's last component, for a path from the storage folder.
fn dir_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A task as the embedded hub knows it, for one the app never saw.
fn hub_task_view(task: &Task) -> TaskView {
    TaskView {
        id: task.id.clone(),
        name: task.name.clone(),
        state: task.state.into(),
        image: task.spec.image.clone(),
        reason: task.reason.clone(),
        exit_code: task.exit_code.and_then(|c| i32::try_from(c).ok()),
        started_at_ms: task.started_at,
        finished_at_ms: task.finished_at,
        pull: None,
    }
}

/// The files kept in storage for a task, biggest first.
fn outputs(host: &HostDir, id: &str) -> Vec<OutputView> {
    let root = host.results(id);
    let base = format!("storage/results/{}", dir_name(&root));
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if let Ok(relative) = entry.path().strip_prefix(&root) {
                let name = relative.to_string_lossy().replace('\\', "/");
                found.push(OutputView {
                    path: format!("{base}/{name}"),
                    name,
                    size_bytes: meta.len(),
                });
            }
        }
    }
    found.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.name.cmp(&b.name)));
    found
}

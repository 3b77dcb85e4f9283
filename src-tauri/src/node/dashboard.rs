//! What the dashboard asks of the node beyond the status: the machine's
//! samples, containers, one task's detail, the storage folder, the node's
//! settings, and (in local mode) new tasks.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gantry_agent::agent::Agent;
use gantry_agent::docker::ContainerUse;
use gantry_agent::host::HostDir;
use gantry_agent::record::Records;
use gantry_client::HubClient;
use gantry_protocol::job::{Format, JobSpec};
use gantry_protocol::wire::Task;

use super::{Node, now_ms};
use crate::storage::{Storage, StorageError};
use crate::view::{
    ContainerView, MetricsSample, NewTask, NodeSettings, NodeSettingsChange, OutputView,
    StorageListing, TaskDetail, TaskState, TaskUsage, TaskView, TimelineEntry, UiError,
};

/// Samples kept: five minutes at one a second.
const HISTORY: usize = 300;

/// What the app remembers of a task for its detail screen.
#[derive(Debug, Default)]
pub(super) struct Detail {
    /// The job spec as YAML, read from the task's record when first seen.
    spec: Option<String>,
    /// Each state seen, oldest first.
    timeline: Vec<TimelineEntry>,
}

impl From<StorageError> for UiError {
    fn from(error: StorageError) -> UiError {
        UiError::new(error.code(), error.to_string())
    }
}

fn spec_yaml(spec: &JobSpec) -> Option<String> {
    serde_norway::to_string(spec).ok()
}

impl Node {
    /// Keeps a sample of the machine and sends it to the Overviews open.
    pub(super) fn record_sample(&self, sample: MetricsSample) {
        let percent = (!sample.gpus.is_empty()).then(|| {
            sample
                .gpus
                .iter()
                .map(|g| g.utilization_percent)
                .sum::<u32>()
                / sample.gpus.len() as u32
        });
        *self.gpu_percent.lock().expect("gpu poisoned") = percent;
        {
            let mut history = self.metrics.lock().expect("metrics poisoned");
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(sample.clone());
        }
        let _ = self.samples.send(sample);
    }

    /// Sends the samples of the last minutes through `send`, then each new
    /// one, until `send` fails (the window went away) or the app quits.
    pub fn watch_metrics(&self, send: impl Fn(Vec<MetricsSample>) -> bool + Send + 'static) {
        // Subscribed before the history is copied: a sample taken between
        // the two is sent twice at worst, never lost.
        let mut samples = self.samples.subscribe();
        let history: Vec<MetricsSample> = self
            .metrics
            .lock()
            .expect("metrics poisoned")
            .iter()
            .cloned()
            .collect();
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            if !send(history) {
                return;
            }
            loop {
                let sample = tokio::select! {
                    _ = stop.cancelled() => return,
                    sample = samples.recv() => sample,
                };
                match sample {
                    Ok(sample) => {
                        if !send(vec![sample]) {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Notes a task's state for its timeline; on first sight reads its spec
    /// from the task's record.
    pub(super) fn observe(&self, id: &str, state: TaskState, agent: Option<&Agent>) {
        let mut details = self.details.lock().expect("details poisoned");
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

    /// Every container of this node's agent, with its use.
    pub async fn containers(&self) -> Result<Vec<ContainerView>, UiError> {
        let engine = self
            .agent()?
            .engine()
            .map_err(|why| UiError::new("docker", why))?;
        let found = engine
            .containers(None)
            .await
            .map_err(|e| UiError::new("docker", e.to_string()))?;
        let names = self.task_names();
        let mut views: Vec<ContainerView> = found
            .into_iter()
            .map(|c| container_view(c, &names))
            .collect();
        // Running first, then the newest.
        views.sort_by(|a, b| {
            (a.state != "running", -a.created_ms).cmp(&(b.state != "running", -b.created_ms))
        });
        Ok(views)
    }

    fn task_names(&self) -> std::collections::HashMap<String, String> {
        let status = self.status.borrow();
        status
            .tasks
            .iter()
            .chain(status.recent.iter())
            .map(|t| (t.id.clone(), t.name.clone()))
            .collect()
    }

    fn find_task(&self, id: &str) -> Option<TaskView> {
        let status = self.status.borrow();
        status
            .tasks
            .iter()
            .chain(status.recent.iter())
            .find(|t| t.id == id)
            .cloned()
    }

    fn admin(&self) -> Option<HubClient> {
        self.running
            .lock()
            .expect("running poisoned")
            .as_ref()
            .and_then(|r| r.admin.clone())
    }

    /// Everything Task detail shows besides the log.
    pub async fn task_detail(&self, id: &str) -> Result<TaskDetail, UiError> {
        let agent = self.agent()?;
        let host = agent.host().clone();
        // In local mode the hub knows every task, with its whole history.
        let from_hub: Option<Task> = match self.admin() {
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
            None => {
                let details = self.details.lock().expect("details poisoned");
                let detail = details.get(id);
                (
                    detail.and_then(|d| d.spec.clone()),
                    detail.map(|d| d.timeline.clone()).unwrap_or_default(),
                )
            }
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
        Ok(TaskDetail {
            task,
            spec,
            timeline,
            folder,
            outputs,
            log_bytes,
            usage,
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
        let monitor = self.monitor.lock().expect("monitor poisoned").clone();
        let gpu_memory_bytes = match monitor {
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

    fn storage(&self) -> Storage {
        let held = self
            .status
            .borrow()
            .tasks
            .iter()
            .map(|t| t.id.clone())
            .collect();
        Storage::new(self.host_dir(), held)
    }

    /// A folder of the storage folder.
    pub async fn storage_list(&self, path: String) -> Result<StorageListing, UiError> {
        let storage = self.storage();
        tokio::task::spawn_blocking(move || storage.list(&path))
            .await
            .map_err(|e| UiError::new("io", e.to_string()))?
            .map_err(UiError::from)
    }

    /// Deletes a file or folder of the storage folder.
    pub async fn storage_delete(&self, path: String) -> Result<(), UiError> {
        let storage = self.storage();
        tracing::info!(%path, "deleting from storage at the person's request");
        tokio::task::spawn_blocking(move || storage.delete(&path))
            .await
            .map_err(|e| UiError::new("io", e.to_string()))?
            .map_err(UiError::from)
    }

    /// The full path of a folder of the storage folder (a file's folder for
    /// a file), to open in the file manager.
    pub fn storage_folder(&self, path: &str) -> Result<PathBuf, UiError> {
        let full = self.storage().resolve(path)?;
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_dir() => Ok(full),
            Ok(_) => Ok(full.parent().map(Path::to_path_buf).unwrap_or(full)),
            Err(_) => Err(StorageError::Missing(path.to_owned()).into()),
        }
    }

    /// The Settings screen's fields.
    pub fn node_settings(&self, launch_at_login: bool) -> Result<NodeSettings, UiError> {
        let settings = self.settings();
        let (config, locked) = super::layered_config(&settings)
            .map_err(|e| UiError::new("config", format!("{e:#}")))?;
        let running = self.running.lock().expect("running poisoned");
        let local = running.as_ref().is_some_and(|r| r.local);
        Ok(NodeSettings {
            mode: settings.mode.map(|m| {
                match m {
                    crate::settings::Mode::Remote => "remote",
                    crate::settings::Mode::Local => "local",
                }
                .to_owned()
            }),
            server: if local {
                None
            } else {
                config.server.clone().or(settings.server)
            },
            token_saved: running.is_some(),
            name: config.name,
            labels: config.labels,
            max_tasks: u32::try_from(config.max_tasks).unwrap_or(u32::MAX),
            host_dir: config.host_dir.display().to_string(),
            with_local_storage: config.with_local_storage,
            delete_task_dir_on_finish: config.delete_task_dir_on_finish,
            delete_task_dir_on_failure: config.delete_task_dir_on_failure,
            notifications: settings.notify.into(),
            launch_at_login,
            locked,
        })
    }

    /// Keeps the Settings screen's fields and restarts the agent with them
    /// (running containers go on and are picked up again).
    pub async fn save_node_settings(
        self: &std::sync::Arc<Node>,
        change: NodeSettingsChange,
    ) -> Result<(), UiError> {
        let name = change.name.trim().to_owned();
        if name.is_empty() {
            return Err(UiError::new("bad_setting", "Give this computer a name"));
        }
        if change.max_tasks == 0 {
            return Err(UiError::new(
                "bad_setting",
                "Max concurrent tasks must be 1 or more",
            ));
        }
        let labels: Vec<String> = change
            .labels
            .iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        if let Some(bad) = labels.iter().find(|l| l.chars().any(char::is_whitespace)) {
            return Err(UiError::new(
                "bad_setting",
                format!(
                    "The label \"{bad}\" has a space in it; write labels as key=value or one word"
                ),
            ));
        }
        let host_dir = PathBuf::from(change.host_dir.trim());
        if !host_dir.is_absolute() {
            return Err(UiError::new(
                "bad_setting",
                "The storage folder must be a full path, e.g. /home/you/gantry",
            ));
        }
        if host_dir != self.host_dir() && !self.status.borrow().tasks.is_empty() {
            // Their records and spools live in the old folder: an agent in a
            // new one would not pick them up.
            return Err(UiError::new(
                "bad_setting",
                "Tasks are running in the current storage folder: let them finish (or cancel them) before moving it",
            ));
        }
        self.update_settings(|s| {
            s.name = Some(name);
            s.labels = Some(labels);
            s.max_tasks = Some(change.max_tasks as usize);
            s.host_dir = Some(host_dir);
            s.with_local_storage = Some(change.with_local_storage);
            s.delete_task_dir_on_finish = Some(change.delete_task_dir_on_finish);
            s.delete_task_dir_on_failure = Some(change.delete_task_dir_on_failure);
        })?;
        self.restart().await
    }

    /// Checks a new token against the hub now in use, keeps it in the
    /// keychain, and restarts the agent with it.
    pub async fn replace_token(self: &std::sync::Arc<Node>, token: String) -> Result<(), UiError> {
        let settings = self.settings();
        let server = super::resolve_config(&settings)
            .ok()
            .and_then(|c| c.server)
            .or(settings.server.clone())
            .filter(|_| settings.mode != Some(crate::settings::Mode::Local))
            .ok_or_else(|| {
                UiError::new(
                    "not_remote",
                    "This computer is not connected to a hub; there is no token to replace",
                )
            })?;
        self.connect(server, token, None).await
    }

    /// Stops the agent and starts it again from the settings.
    async fn restart(self: &std::sync::Arc<Node>) -> Result<(), UiError> {
        self.stop_agent().await;
        match self.start_from_settings().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(UiError::new(
                "not_set_up",
                "Saved. Gantry is not set up yet: choose a hub or local mode first",
            )),
            Err(error) => {
                self.fail(error.message.clone());
                Err(error)
            }
        }
    }

    /// Local mode: submits the New task form's task; its id.
    pub async fn submit_task(&self, task: NewTask) -> Result<String, UiError> {
        let spec = new_task_spec(&task)?;
        self.submit(&spec).await
    }

    /// Local mode: submits a job file; its id.
    pub async fn submit_job_file(&self, path: &Path) -> Result<String, UiError> {
        let text = tokio::fs::read_to_string(path).await.map_err(|e| {
            UiError::new("job_file", format!("cannot read {}: {e}", path.display()))
        })?;
        let name = path.display().to_string();
        let spec = JobSpec::parse(&text, Format::from_file_name(&name))
            .map_err(|e| UiError::new("bad_job", format!("{name}: {e}")))?;
        self.submit(&spec).await
    }

    async fn submit(&self, spec: &JobSpec) -> Result<String, UiError> {
        let admin = self.admin().ok_or_else(|| {
            UiError::new(
                "not_local",
                "New tasks are made here only in local mode; submit them to your hub otherwise",
            )
        })?;
        admin
            .submit(spec)
            .await
            .map_err(|e| UiError::new("submit", e.to_string()))
    }
}

/// The folder's last component, for a path from the storage folder.
fn dir_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn container_view(
    c: ContainerUse,
    names: &std::collections::HashMap<String, String>,
) -> ContainerView {
    ContainerView {
        id: c.id.chars().take(12).collect(),
        task_name: c.task_id.as_ref().and_then(|t| names.get(t).cloned()),
        name: c.name,
        task_id: c.task_id,
        role: c.role,
        image: c.image,
        state: c.state,
        status: c.status,
        created_ms: c.created_s.saturating_mul(1000),
        cpu_percent: c.cpu_percent,
        memory_bytes: c.memory_bytes,
        memory_limit_bytes: c.memory_limit_bytes,
    }
}

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

/// The job the New task form describes, checked like a job file.
fn new_task_spec(task: &NewTask) -> Result<JobSpec, UiError> {
    let bad = |message: String| UiError::new("bad_job", message);
    let image = task.image.trim();
    if image.is_empty() {
        return Err(bad("Enter an image, e.g. python:3.12-slim".into()));
    }
    let command = split_command(&task.command).map_err(bad)?;
    let mut env = serde_json::Map::new();
    for line in task.env.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once('=') else {
            return Err(bad(format!(
                "\"{line}\" is not NAME=value; write one variable per line"
            )));
        };
        env.insert(name.trim().to_owned(), value.into());
    }
    let gpus = task.gpus.trim();
    let gpus: Option<serde_json::Value> = if gpus.is_empty() || gpus == "none" || gpus == "0" {
        None
    } else if gpus == "all" {
        Some("all".into())
    } else if let Ok(count) = gpus.parse::<u32>() {
        Some(count.into())
    } else {
        let indices: Result<Vec<u32>, _> = gpus.split(',').map(|i| i.trim().parse()).collect();
        Some(
            indices
                .map_err(|_| {
                    bad(format!(
                        "GPUs: \"{gpus}\" is not none, all, a count (2) or device numbers (0,1)"
                    ))
                })?
                .into(),
        )
    };
    let mut job = serde_json::json!({ "image": image, "command": command, "env": env });
    let name = task.name.trim();
    if !name.is_empty() {
        job["name"] = name.into();
    }
    if let Some(gpus) = gpus {
        job["resources"] = serde_json::json!({ "gpus": gpus });
    }
    JobSpec::parse(&job.to_string(), Format::Json).map_err(|e| bad(e.to_string()))
}

/// Splits a command line as a shell would for words and quotes (no
/// variables, globs or pipes: the command runs without a shell).
fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("the command has a ' without its closing '".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("the command ends inside a \"…\"".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("the command has a \" without its closing \"".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn job_files_are_checked_then_submitted_to_the_local_hub() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::new(
            dir.path().join("desktop.json"),
            crate::settings::Settings::default(),
        );
        let good = dir.path().join("job.yaml");
        std::fs::write(
            &good,
            "name: hello\nimage: busybox:1\ncommand: [echo, hi]\n",
        )
        .unwrap();
        let refused = node.submit_job_file(&good).await.unwrap_err();
        assert_eq!(refused.code, "not_local", "{}", refused.message);

        node.use_local(Some(dir.path().join("host"))).await.unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "image: busybox:1\ncomand: [echo]\n").unwrap();
        let error = node.submit_job_file(&bad).await.unwrap_err();
        assert_eq!(error.code, "bad_job");
        assert!(
            error.message.contains("bad.yaml") && error.message.contains("comand"),
            "{}",
            error.message
        );
        let missing = node
            .submit_job_file(&dir.path().join("nope.yaml"))
            .await
            .unwrap_err();
        assert_eq!(missing.code, "job_file");

        let id = node.submit_job_file(&good).await.unwrap();
        // The local hub knows it at once, with its spec and first state.
        let detail = node.task_detail(&id).await.unwrap();
        assert_eq!(detail.task.name, "hello");
        assert!(
            detail
                .spec
                .as_deref()
                .is_some_and(|s| s.contains("busybox:1"))
        );
        assert_eq!(
            detail.timeline.first().map(|t| t.state),
            Some(TaskState::Queued)
        );
        let unknown = node.task_detail("t-none").await.unwrap_err();
        assert_eq!(unknown.code, "unknown_task");
        let _ = node.cancel_task(&id);
        node.shutdown(true, std::time::Duration::from_secs(20))
            .await;
    }

    #[test]
    fn commands_split_like_a_shell_would() {
        assert_eq!(
            split_command(r#"python -c 'print("hi there")' --n=3 "a b" c\ d"#).unwrap(),
            [
                "python",
                "-c",
                r#"print("hi there")"#,
                "--n=3",
                "a b",
                "c d"
            ]
        );
        assert_eq!(split_command("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_command(r#"echo "" x"#).unwrap(), ["echo", "", "x"]);
        assert!(split_command("echo 'oops").is_err());
        assert!(split_command("echo \"oops").is_err());
    }

    #[test]
    fn the_new_task_form_makes_a_checked_job() {
        let form = |gpus: &str| NewTask {
            name: "train".into(),
            image: "python:3.12-slim".into(),
            command: "python -c 'print(1)'".into(),
            env: vec!["A=1".into(), "".into(), "B=x=y".into()],
            gpus: gpus.into(),
        };
        let spec = new_task_spec(&form("2")).unwrap();
        assert_eq!(spec.name.as_deref(), Some("train"));
        assert_eq!(spec.command, ["python", "-c", "print(1)"]);
        assert_eq!(spec.env.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(
            spec.resources.gpus,
            Some(gantry_protocol::job::Gpus::Count(2))
        );
        assert_eq!(
            new_task_spec(&form("0, 1")).unwrap().resources.gpus,
            Some(gantry_protocol::job::Gpus::Indices(vec![0, 1]))
        );
        assert_eq!(
            new_task_spec(&form("all")).unwrap().resources.gpus,
            Some(gantry_protocol::job::Gpus::All)
        );
        assert_eq!(new_task_spec(&form("")).unwrap().resources.gpus, None);
        for (change, says) in [
            (
                NewTask {
                    image: " ".into(),
                    ..form("")
                },
                "Enter an image",
            ),
            (
                NewTask {
                    env: vec!["NOEQUALS".into()],
                    ..form("")
                },
                "NAME=value",
            ),
            (form("two"), "GPUs"),
            (
                NewTask {
                    command: "echo 'x".into(),
                    ..form("")
                },
                "closing",
            ),
        ] {
            let error = new_task_spec(&change).unwrap_err();
            assert_eq!(error.code, "bad_job");
            assert!(error.message.contains(says), "{}", error.message);
        }
    }
}

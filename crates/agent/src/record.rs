//! What the agent remembers of each task it holds, so that after a crash, a
//! reboot or a plain restart it picks the task up where it was:
//! `tasks/<task id>/task.json`, replaced atomically at each step.
//!
//! The record says which step the task was in and where that step's output
//! began in the spool; the containers themselves are found again by their
//! labels, and the hub is told of every recorded task when the agent registers.
//! A picked-up task enters the task's walk ([`crate::task`]) at the recorded
//! step. The writing and its fsync run on tokio's blocking pool.

use std::path::{Path, PathBuf};

use gantry_protocol::wire::Task;
use serde::{Deserialize, Serialize};

use crate::executor::Exit;
use crate::executor::StreamCounts;
use crate::host::HostDir;
use crate::task::Outcome;

/// A task the agent holds, as written in its folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task as the hub sent it.
    pub task: Task,
    /// Where it is.
    pub step: Step,
    /// The UUIDs of the GPUs it holds, so a re-attached task keeps them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<String>,
    /// What it used so far (usage accounting), so a restart goes on counting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Tally>,
}

/// Where a held task is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Folder, inputs, images: nothing of the task has run yet.
    Preparing,
    /// The task's main container runs; its output began at `base` in the spool.
    Main {
        /// The spool's bytes of each stream before the container's output.
        base: StreamCounts,
    },
    /// The epilogue runs after the main command ended as `main` says.
    Epilogue {
        /// The spool's bytes of each stream before the epilogue's output.
        base: StreamCounts,
        /// How the main command ended.
        main: Exit,
        /// What was noted about the main command's run.
        note: Option<String>,
    },
    /// A subprocess runs (the `process` executor); it cannot be re-attached.
    Process,
    /// The node released the task to its person (a yield with the `release`
    /// action): its command is being stopped, its checkpoint kept and the
    /// hub told. A restart in between finishes the release instead of
    /// taking the stopped command's exit for the task's end.
    Releasing {
        /// Why, in the person's words, as the hub's history will say.
        reason: String,
        /// Where the main container's output began in the spool (as in
        /// `Main`), so a restart collects what it printed meanwhile; `None`
        /// when no container runs (a process task, or none started yet).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<StreamCounts>,
    },
    /// Everything ran; the outcome is to be reported.
    Finishing {
        /// How the task ended.
        outcome: Outcome,
        /// What it used, as measured when it ended, for the final report.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<gantry_protocol::usage::TaskUsage>,
    },
}

/// Reads and writes the records of one agent's tasks.
#[derive(Debug, Clone)]
pub struct Records {
    host: HostDir,
}

impl Records {
    /// The records in `host`.
    pub fn new(host: HostDir) -> Records {
        Records { host }
    }

    fn path(&self, task_id: &str) -> PathBuf {
        self.host.task_dir(task_id).join("task.json")
    }

    /// Writes a task's record: a new file, synced, then renamed over the old
    /// one, so a crash leaves either the old record or the new one. The
    /// writing and its fsync run on tokio's blocking pool, never on a
    /// runtime worker.
    pub async fn save(&self, record: &TaskRecord) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        let path = self.path(&record.task.id);
        tokio::task::spawn_blocking(move || replace(&path, &text))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Forgets a task: it ended and the hub knows.
    pub async fn remove(&self, task_id: &str) {
        let path = self.path(task_id);
        if let Err(error) = tokio::fs::remove_file(&path).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %path.display(), "cannot remove a finished task's record");
        }
    }

    /// One task's record, if it has a readable one.
    pub fn load(&self, task_id: &str) -> Option<TaskRecord> {
        let text = std::fs::read(self.path(task_id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Every recorded task, oldest first. A record that cannot be read is
    /// named in the agent's log and left in place for a person to look at.
    pub fn load_all(&self) -> Vec<TaskRecord> {
        let Ok(entries) = std::fs::read_dir(self.host.root().join("tasks")) else {
            return Vec::new();
        };
        let mut records = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path().join("task.json");
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            match serde_json::from_slice::<TaskRecord>(&text) {
                Ok(record) => records.push(record),
                Err(error) => {
                    tracing::error!(%error, path = %path.display(), "cannot read a task's record; the task is not picked up again")
                }
            }
        }
        records.sort_by(|a, b| a.task.id.cmp(&b.task.id));
        records
    }
}

/// Writes `text` to `path` through a synced temporary file and a rename.
fn replace(path: &Path, text: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        crate::host::create_private_dir(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode_private()
        .open(&tmp)?;
    file.write_all(text)?;
    file.sync_data()?;
    std::fs::rename(&tmp, path)
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_protocol::TaskState;

    #[tokio::test]
    async fn records_round_trip_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(HostDir::open(dir.path()).unwrap());
        let spec =
            gantry_protocol::JobSpec::parse("image: x\n", gantry_protocol::job::Format::Yaml)
                .unwrap();
        let task: Task = serde_json::from_value(serde_json::json!({
            "id": "t1", "name": "x", "state": "running", "spec": spec,
            "created_at": 0, "updated_at": 0, "log_size": 0, "outputs": [], "history": [],
            "node": null, "exit_code": null, "reason": null, "started_at": null,
            "finished_at": null, "pending_command": null, "pull_progress": null,
        }))
        .unwrap();
        let record = TaskRecord {
            task,
            step: Step::Epilogue {
                base: StreamCounts {
                    stdout: 3,
                    stderr: 4,
                },
                main: Exit::Code(2),
                note: None,
            },
            gpus: vec!["GPU-1".into()],
            usage: Some(crate::usage::Tally {
                started_ms: 5,
                bytes_pulled: 7,
                ..Default::default()
            }),
        };
        records.save(&record).await.unwrap();
        assert_eq!(records.load_all(), vec![record.clone()]);
        let finishing = TaskRecord {
            step: Step::Finishing {
                outcome: Outcome {
                    state: TaskState::Failed,
                    exit_code: Some(2),
                    reason: None,
                },
                usage: Some(gantry_protocol::usage::TaskUsage {
                    wall_seconds: 3.0,
                    ..Default::default()
                }),
            },
            ..record
        };
        records.save(&finishing).await.unwrap();
        assert_eq!(records.load_all(), vec![finishing]);
        records.remove("t1").await;
        assert!(records.load_all().is_empty());
    }
}

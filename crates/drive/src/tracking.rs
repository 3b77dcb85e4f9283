//! The driver's jobs on the hub: how each is marked as the driver's, found
//! again after a restart, and followed state change by state change.
//!
//! Why the environment and not `labels`: a job's labels are the labels a
//! node must carry to take it (crates/protocol/src/rules.rs), so a label
//! naming the driver would keep every job queued. Two variables do the
//! marking instead, [`DRIVE_ENV`] (the driver's name) and [`ORDINAL_ENV`]
//! (the job's place in the order the program made them); the task sees them
//! too, which is harmless and lets it say whose it is.
//!
//! Why history and not the latest state: a job can pass through several
//! states between two looks (queued → assigned → pulling → running). The
//! hub keeps every transition of a task, so the driver hands the program
//! each one, in order, and misses none however slow its polling.

use std::collections::BTreeMap;

use gantry_client::{ClientError, HubClient};
use gantry_protocol::wire::Task;
use gantry_protocol::{JobSpec, TaskState};

use crate::protocol::JobView;

/// The variable naming the driver that made a job.
pub const DRIVE_ENV: &str = "GANTRY_DRIVE";
/// The variable holding the job's ordinal (0, 1, 2, … in the order made).
pub const ORDINAL_ENV: &str = "GANTRY_DRIVE_JOB";

/// The spec the hub is sent: the program's, marked with the driver's name
/// and the job's ordinal.
pub fn marked(spec: &JobSpec, drive: &str, ordinal: usize) -> JobSpec {
    let mut marked = spec.clone();
    marked.env.insert(DRIVE_ENV.to_owned(), drive.to_owned());
    marked
        .env
        .insert(ORDINAL_ENV.to_owned(), ordinal.to_string());
    marked
}

/// The program's spec back from a marked one, and its ordinal, if `spec`
/// was made by the driver named `drive`.
pub fn unmarked(spec: &JobSpec, drive: &str) -> Option<(usize, JobSpec)> {
    if spec.env.get(DRIVE_ENV).map(String::as_str) != Some(drive) {
        return None;
    }
    let ordinal = spec.env.get(ORDINAL_ENV)?.parse().ok()?;
    let mut plain = spec.clone();
    plain.env.remove(DRIVE_ENV);
    plain.env.remove(ORDINAL_ENV);
    Some((ordinal, plain))
}

/// The tasks a driver of this name made before, by ordinal (the newest when
/// one ordinal was submitted twice), read from every page of the hub's list.
pub async fn recover(
    client: &HubClient,
    drive: &str,
) -> Result<BTreeMap<usize, (Task, JobSpec)>, ClientError> {
    let mut found: BTreeMap<usize, (Task, JobSpec)> = BTreeMap::new();
    let mut before: Option<String> = None;
    loop {
        let page = client.task_page(before.as_deref(), 1000).await?;
        for task in page.tasks {
            if let Some((ordinal, plain)) = unmarked(&task.spec, drive) {
                // Pages are newest first: the first seen is the newest.
                found.entry(ordinal).or_insert((task, plain));
            }
        }
        match page.next {
            Some(next) => before = Some(next),
            None => return Ok(found),
        }
    }
}

/// One job of the driver.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its place in the order the program made the jobs.
    pub ordinal: usize,
    /// The task's id.
    pub id: String,
    /// The job as the program gave it, as JSON.
    pub spec: serde_json::Value,
    /// The task as last read, with its history.
    pub task: Option<Task>,
    /// How many of its transitions the program has been told of.
    pub told: usize,
}

impl Job {
    /// Whether it ended and the program was told so.
    pub fn settled(&self) -> bool {
        self.task
            .as_ref()
            .is_some_and(|task| task.state.is_terminal() && self.told >= task.history.len())
    }

    /// Its latest state (queued until first read).
    pub fn state(&self) -> TaskState {
        self.task
            .as_ref()
            .map(|task| task.state)
            .unwrap_or(TaskState::Queued)
    }

    /// How the program sees it now.
    pub fn view(&self) -> JobView {
        match &self.task {
            Some(task) => view_at(task, &self.spec, task.state, i64::MAX),
            None => JobView {
                id: self.id.clone(),
                name: String::new(),
                state: TaskState::Queued,
                node: None,
                started: None,
                ended: None,
                exit_code: None,
                spec: self.spec.clone(),
            },
        }
    }

    /// Reads the task again and returns the transitions the program has not
    /// been told of, as (time, view), marking them told.
    pub async fn refresh(
        &mut self,
        client: &HubClient,
    ) -> Result<Vec<(i64, JobView)>, ClientError> {
        if self.settled() {
            return Ok(Vec::new());
        }
        let task = client.task(&self.id).await?;
        let changes = task
            .history
            .iter()
            .skip(self.told)
            .map(|step| (step.at, view_at(&task, &self.spec, step.state, step.at)))
            .collect();
        self.told = task.history.len();
        self.task = Some(task);
        Ok(changes)
    }
}

/// The task as it was when it entered `state` at `at`.
fn view_at(task: &Task, spec: &serde_json::Value, state: TaskState, at: i64) -> JobView {
    let ended = state.is_terminal();
    JobView {
        id: task.id.clone(),
        name: task.name.clone(),
        state,
        node: if state == TaskState::Queued {
            None
        } else {
            task.node.clone()
        },
        started: task.started_at.filter(|started| *started <= at),
        ended: if ended { task.finished_at } else { None },
        exit_code: if ended { task.exit_code } else { None },
        spec: spec.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_protocol::job::Format;

    #[test]
    fn marks_come_off_again() {
        let spec =
            JobSpec::parse(r#"{"image": "busybox", "env": {"A": "1"}}"#, Format::Json).unwrap();
        let marked = marked(&spec, "sweep", 7);
        assert_eq!(marked.env[DRIVE_ENV], "sweep");
        assert_eq!(unmarked(&marked, "sweep"), Some((7, spec.clone())));
        assert_eq!(unmarked(&marked, "other"), None);
        assert_eq!(unmarked(&spec, "sweep"), None);
    }
}

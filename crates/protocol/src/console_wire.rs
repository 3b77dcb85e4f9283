//! The bodies of the hub's live data for its web console: a node's recent
//! figures (`GET /v1/nodes/{node}/metrics`, and the `sample` event of
//! `GET /v1/events`), the tasks a node holds as the node list shows them,
//! the cursor that pages `GET /v1/tasks`, and the answer of
//! `POST /v1/jobs/check`.
//!
//! They live apart from [`crate::wire`] because only people (the console, a
//! script) read them; no agent sends or receives one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::state::TaskState;
use crate::wire::{GpuInfo, Millis, SystemInfo};

/// One heartbeat's figures, as the console charts them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeSample {
    /// When the hub received the heartbeat.
    pub at: Millis,
    /// CPU use over all cores, 0–100.
    pub cpu_percent: f64,
    /// Memory in use.
    pub memory_used_bytes: u64,
    /// Memory installed.
    pub memory_total_bytes: u64,
    /// Space left on the disk of the agent's host folder.
    pub disk_free_bytes: u64,
    /// That disk's size.
    pub disk_total_bytes: u64,
    /// Each GPU's use and memory (empty on a node without one; its
    /// `system.gpu_status` in the node list says why).
    pub gpus: Vec<GpuInfo>,
}

impl NodeSample {
    /// The figures of a heartbeat's system report, received `at`.
    pub fn of(system: &SystemInfo, at: Millis) -> NodeSample {
        NodeSample {
            at,
            cpu_percent: f64::from(system.cpu.usage_percent),
            memory_used_bytes: system.memory.used_bytes,
            memory_total_bytes: system.memory.total_bytes,
            disk_free_bytes: system.disk.free_bytes,
            disk_total_bytes: system.disk.total_bytes,
            gpus: system.gpus.clone(),
        }
    }
}

/// `GET /v1/nodes/{node}/metrics`: the figures of the last hour of a node's
/// heartbeats, kept in the hub's memory (a hub restart starts them afresh).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeMetrics {
    /// The node's id.
    pub node: String,
    /// Oldest first.
    pub samples: Vec<NodeSample>,
}

/// A task a node holds now, as the node list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunningTask {
    /// The task's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its state: assigned, pulling, running, paused or lost.
    pub state: TaskState,
}

/// One problem `POST /v1/jobs/check` found in a job file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobProblem {
    /// The key path, such as `resources.gpus` or `files[2].path`; empty for the file as a whole.
    pub path: String,
    /// The 1-based line, when the parser knows it (syntax errors).
    pub line: Option<usize>,
    /// The 1-based column, when the parser knows it.
    pub column: Option<usize>,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// `POST /v1/jobs/check`: whether the hub would take the job now, and if
/// not, every problem it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobCheck {
    /// True when a submit of this job would be taken.
    pub ok: bool,
    /// Every problem, in the order the checks ran (empty when `ok`).
    pub problems: Vec<JobProblem>,
}

/// The `before` of `GET /v1/tasks` and the `next` of its answer: the last
/// listed task's `created_at` and id, written `CREATED_AT.ID`.
pub const TASK_CURSOR: &str = r"^[0-9]{1,18}\.[^\u0000-\u001f\u007f-\u009f]{1,128}$";

/// Where a page of tasks ends: the tasks listed after it are older.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCursor {
    /// The last listed task's `created_at`.
    pub created_at: Millis,
    /// Its id.
    pub id: String,
}

impl TaskCursor {
    /// Reads a cursor as [`TASK_CURSOR`] states it, or says what is wrong.
    pub fn parse(text: &str) -> Result<TaskCursor, String> {
        let refuse = || {
            format!(
                "before: {text:?} is not a page cursor; pass the `next` of the previous page as it came"
            )
        };
        let (at, id) = text.split_once('.').ok_or_else(refuse)?;
        if at.is_empty() || at.len() > 18 || !at.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        if !crate::rules::is_task_id(id) {
            return Err(refuse());
        }
        Ok(TaskCursor {
            created_at: at.parse().map_err(|_| refuse())?,
            id: id.to_owned(),
        })
    }
}

impl std::fmt::Display for TaskCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.created_at, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_bad_ones_are_refused() {
        let cursor = TaskCursor {
            created_at: 1_700_000_000_000,
            id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        };
        assert_eq!(TaskCursor::parse(&cursor.to_string()), Ok(cursor.clone()));
        let pattern = regex::Regex::new(TASK_CURSOR).unwrap();
        assert!(pattern.is_match(&cursor.to_string()));
        for bad in [
            "",
            "12",
            ".abc",
            "x.abc",
            "12.",
            "-1.abc",
            "1234567890123456789.a",
            "12.a\nb",
        ] {
            assert!(TaskCursor::parse(bad).is_err(), "{bad}");
            assert!(!pattern.is_match(bad), "the pattern refuses {bad:?} too");
        }
        assert!(TaskCursor::parse("12.a.b").is_ok(), "an id may hold a dot");
        assert!(pattern.is_match("12.a.b"));
    }

    #[test]
    fn a_sample_takes_the_figures_of_a_system_report() {
        let mut system = SystemInfo::default();
        system.cpu.usage_percent = 12.5;
        system.memory.used_bytes = 3;
        system.memory.total_bytes = 8;
        system.disk.free_bytes = 5;
        system.disk.total_bytes = 9;
        let sample = NodeSample::of(&system, 42);
        assert_eq!(
            (sample.at, sample.cpu_percent, sample.memory_used_bytes),
            (42, 12.5, 3)
        );
        assert_eq!((sample.disk_free_bytes, sample.disk_total_bytes), (5, 9));
    }
}

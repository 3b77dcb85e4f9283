//! What the monitor shows: the driver's jobs as last read, shared between
//! the driver's loop (the one writer) and the monitor's answers.

use serde::Serialize;

use crate::protocol::JobView;

/// The driver as the monitor's `GET /jobs` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    /// The driver's name.
    pub name: String,
    /// The hub's web console, for links to each task's page (`#/tasks/ID`).
    pub console: String,
    /// Whether the program may still make jobs.
    pub generating: bool,
    /// How it ended, in words; `None` while it runs.
    pub ended: Option<String>,
    /// Every job, latest state, in the order they were made.
    pub jobs: Vec<JobView>,
}

impl Board {
    /// An empty board for the driver `name` on the hub at `server`.
    pub fn new(name: &str, server: &str) -> Board {
        Board {
            name: name.to_owned(),
            console: format!("{}/", server.trim_end_matches('/')),
            generating: true,
            ended: None,
            jobs: Vec::new(),
        }
    }
}

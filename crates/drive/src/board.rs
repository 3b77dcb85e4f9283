//! What the monitor shows: the driver's jobs as last read, shared between
//! the driver's loop (the one writer) and the monitor's answers.
//!
//! The monitor needs no token to read, so what it shows of a job's spec
//! leaves out the values of its environment (`env`, and each service's):
//! they are where jobs carry keys and passwords. The program itself still
//! gets every job whole.

use serde::Serialize;
use serde_json::Value;

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

    /// The board as the monitor serves it: every `env` value in the jobs'
    /// specs, services' included, is [`HIDDEN`]; the names stay.
    pub fn shown(&self) -> Board {
        let mut board = self.clone();
        for job in &mut board.jobs {
            hide_env(&mut job.spec);
        }
        board
    }
}

/// What the monitor shows instead of an environment variable's value.
pub const HIDDEN: &str = "(hidden)";

/// Hides the values of every `env` object in `spec`, at any depth.
fn hide_env(spec: &mut Value) {
    match spec {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::Object(env) if key == "env" => {
                        for value in env.values_mut() {
                            *value = Value::String(HIDDEN.to_owned());
                        }
                    }
                    _ => hide_env(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_env),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_monitor_shows_env_names_not_values() {
        let spec = json!({
            "image": "x",
            "env": {"API_KEY": "sekrit", "EPOCHS": 10},
            "services": [{"image": "postgres:16", "env": {"POSTGRES_PASSWORD": "pw"}}],
            "command": ["sh", "-c", "echo env"],
        });
        let mut board = Board::new("d", "http://hub");
        board.jobs.push(JobView {
            id: "t".into(),
            name: "x".into(),
            state: gantry_protocol::TaskState::Queued,
            node: None,
            started: None,
            ended: None,
            exit_code: None,
            spec: spec.clone(),
        });
        let shown = board.shown();
        assert_eq!(
            shown.jobs[0].spec,
            json!({
                "image": "x",
                "env": {"API_KEY": HIDDEN, "EPOCHS": HIDDEN},
                "services": [{"image": "postgres:16", "env": {"POSTGRES_PASSWORD": HIDDEN}}],
                "command": ["sh", "-c", "echo env"],
            })
        );
        assert_eq!(board.jobs[0].spec, spec, "the driver's own board is whole");
    }
}

//! The JSON-lines protocol between the driver and the program that makes
//! its jobs (docs/drive.md is its reference).
//!
//! One JSON object per line each way, in lock-step: the driver sends a
//! message and, except for `hello`, reads one line back before it sends the
//! next. Why lock-step: the user's `user_create` and `user_update` never run
//! at the same time, exactly as in the Borgy model, and a program written as
//! a plain read-a-line/write-a-line loop in any language is enough.

use std::collections::BTreeMap;

use gantry_protocol::TaskState;
use gantry_protocol::wire::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol's version, sent in `hello`.
pub const VERSION: u32 = 1;

/// A message from the driver to the program.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToProgram<'a> {
    /// The first line: where the hub is and how to reach it. No answer.
    Hello {
        /// [`VERSION`].
        version: u32,
        /// The hub's address.
        server: &'a str,
        /// The admin token the driver uses: the program may call the hub
        /// itself (Python: `agent.hub`). It travels only on this pipe.
        token: &'a str,
        /// A CA file to trust for the hub, if one was given.
        ca_file: Option<&'a str>,
        /// The driver's name (its jobs carry it).
        name: &'a str,
        /// The monitor's address, e.g. `http://127.0.0.1:8666`, if it runs.
        monitor: Option<&'a str>,
    },
    /// Asks for jobs: the answer is a list of job specs, `[]` or `null`.
    Create {
        /// The driver's jobs as they are now.
        agent: &'a AgentView,
    },
    /// Jobs changed: one entry per state change, in the order they happened
    /// (a job that changed twice is there twice). Any JSON answers it.
    Update {
        /// The driver's jobs as they are now.
        agent: &'a AgentView,
        /// The changes.
        jobs: &'a [JobView],
    },
}

/// A job as the program sees it (Python: a dict).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    /// The task's id on the hub.
    pub id: String,
    /// The task's name (the job's name, else its image).
    pub name: String,
    /// Its state at this change.
    pub state: TaskState,
    /// The node that holds or held it.
    pub node: Option<String>,
    /// When its command started, ms since the epoch.
    pub started: Option<Millis>,
    /// When it ended, ms since the epoch (final states only).
    pub ended: Option<Millis>,
    /// Its command's exit code (final states only).
    pub exit_code: Option<i64>,
    /// The job as the program gave it.
    pub spec: Value,
}

/// The driver's handle as the program sees it: `agent.jobs`, `agent.counts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentView {
    /// The driver's name.
    pub name: String,
    /// Every job, latest state, in the order they were made.
    pub jobs: Vec<JobView>,
    /// How many jobs are in each state, and `total`.
    pub counts: BTreeMap<String, usize>,
}

impl AgentView {
    /// The view of `jobs`, counted.
    pub fn new(name: &str, jobs: Vec<JobView>) -> AgentView {
        let mut counts: BTreeMap<String, usize> = TaskState::ALL
            .iter()
            .map(|state| (state.as_str().to_owned(), 0))
            .collect();
        for job in &jobs {
            *counts.entry(job.state.as_str().to_owned()).or_default() += 1;
        }
        counts.insert("total".to_owned(), jobs.len());
        AgentView {
            name: name.to_owned(),
            jobs,
            counts,
        }
    }
}

/// What a program answered, read from one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// For `create`: `Some(list)` (maybe empty) or `None` (no more jobs).
    pub jobs: Option<Vec<Value>>,
    /// The program asked the driver to stop (Python: `agent.kill()`).
    pub kill: bool,
    /// The user's code failed; the text says how (a traceback).
    pub error: Option<String>,
}

/// A line that is not an answer, in words.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct BadAnswer(pub String);

impl Answer {
    /// Reads the answer to `create`: a JSON array, `null`, or an object
    /// `{"jobs": [...] | null, "kill": bool, "error": "text"}`.
    pub fn to_create(line: &str) -> Result<Answer, BadAnswer> {
        let value = parse(line)?;
        match value {
            Value::Null => Ok(Answer::jobs(None)),
            Value::Array(jobs) => Ok(Answer::jobs(Some(jobs))),
            Value::Object(mut fields) => {
                let mut answer = Answer::from_fields(&mut fields)?;
                if answer.error.is_none() && !answer.kill && !fields.contains_key("jobs") {
                    return Err(BadAnswer(format!(
                        "the answer to create has no \"jobs\": {}; answer a list of jobs, [] or null",
                        short(line)
                    )));
                }
                answer.jobs = match fields.remove("jobs") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(jobs)) => Some(jobs),
                    Some(other) => {
                        return Err(BadAnswer(format!(
                            "\"jobs\" is {}, not a list or null; answer a list of jobs, [] or null",
                            kind(&other)
                        )));
                    }
                };
                // A kill or an error without jobs means none: not "no more".
                if answer.jobs.is_none() && (answer.kill || answer.error.is_some()) {
                    answer.jobs = Some(Vec::new());
                }
                Ok(answer)
            }
            other => Err(BadAnswer(format!(
                "the answer to create is {}: {}; answer a list of jobs, [] or null",
                kind(&other),
                short(line)
            ))),
        }
    }

    /// Reads the answer to `update`: any JSON; an object may carry `kill`
    /// and `error` as for `create`.
    pub fn to_update(line: &str) -> Result<Answer, BadAnswer> {
        match parse(line)? {
            Value::Object(mut fields) => {
                let mut answer = Answer::from_fields(&mut fields)?;
                answer.jobs = Some(Vec::new());
                Ok(answer)
            }
            _ => Ok(Answer::jobs(Some(Vec::new()))),
        }
    }

    fn jobs(jobs: Option<Vec<Value>>) -> Answer {
        Answer {
            jobs,
            kill: false,
            error: None,
        }
    }

    fn from_fields(fields: &mut serde_json::Map<String, Value>) -> Result<Answer, BadAnswer> {
        let kill = match fields.remove("kill") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(kill)) => kill,
            Some(other) => {
                return Err(BadAnswer(format!(
                    "\"kill\" is {}, not true or false",
                    kind(&other)
                )));
            }
        };
        let error = match fields.remove("error") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text),
            Some(other) => Some(other.to_string()),
        };
        Ok(Answer {
            jobs: None,
            kill,
            error,
        })
    }
}

fn parse(line: &str) -> Result<Value, BadAnswer> {
    serde_json::from_str(line.trim()).map_err(|error| {
        BadAnswer(format!(
            "the program wrote a line that is not JSON ({error}): {}; write one JSON value per line on stdout, and anything else on stderr",
            short(line)
        ))
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn short(line: &str) -> String {
    let line = line.trim();
    if line.chars().count() > 120 {
        format!("{:?}…", line.chars().take(120).collect::<String>())
    } else {
        format!("{line:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_answers() {
        assert_eq!(Answer::to_create("null\n").unwrap().jobs, None);
        assert_eq!(Answer::to_create("[]").unwrap().jobs, Some(vec![]));
        assert_eq!(
            Answer::to_create(r#"[{"image":"x"}]"#).unwrap().jobs,
            Some(vec![json!({"image": "x"})])
        );
        let answer = Answer::to_create(r#"{"jobs": null}"#).unwrap();
        assert_eq!(answer.jobs, None);
        let answer = Answer::to_create(r#"{"kill": true}"#).unwrap();
        assert!(answer.kill);
        assert_eq!(answer.jobs, Some(vec![]));
        let answer = Answer::to_create(r#"{"error": "Traceback ..."}"#).unwrap();
        assert_eq!(answer.error.as_deref(), Some("Traceback ..."));
    }

    #[test]
    fn bad_answers_say_what_to_write() {
        for (line, needle) in [
            ("hello", "not JSON"),
            ("3", "a number"),
            (r#"{"job": []}"#, "no \"jobs\""),
            (r#"{"jobs": 1}"#, "not a list or null"),
            (r#"{"jobs": [], "kill": "yes"}"#, "not true or false"),
        ] {
            let error = Answer::to_create(line).unwrap_err().0;
            assert!(error.contains(needle), "{line}: {error}");
        }
        assert!(Answer::to_update("ok").is_err());
        assert!(!Answer::to_update("{}").unwrap().kill);
        assert!(Answer::to_update(r#"{"kill": true}"#).unwrap().kill);
    }

    #[test]
    fn counts_every_state() {
        let view = AgentView::new("d", vec![]);
        assert_eq!(view.counts["total"], 0);
        assert_eq!(view.counts["queued"], 0);
        assert_eq!(view.counts.len(), TaskState::ALL.len() + 1);
    }

    #[test]
    fn hello_carries_the_token_on_the_pipe() {
        let line = serde_json::to_value(ToProgram::Hello {
            version: VERSION,
            server: "http://h",
            token: "t",
            ca_file: None,
            name: "n",
            monitor: None,
        })
        .unwrap();
        assert_eq!(line["type"], "hello");
        assert_eq!(line["token"], "t");
    }
}

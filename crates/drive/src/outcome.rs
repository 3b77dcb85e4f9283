//! How a drive ends: why it stopped, its exit code, what it says, and the
//! summary of its jobs.
//!
//! Exit codes are a contract: 0 when the program said "no more" and every
//! job succeeded, 1 when a job did not (failed, canceled) or the driver was
//! killed, 2 on a usage or user-code error.

use std::fmt::Write as _;
use std::str::FromStr;

use gantry_protocol::TaskState;

use crate::driver::Settings;
use crate::tracking::Job;

/// What happens to a driver's jobs when its program fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Cancel the jobs that have not ended.
    Cancel,
    /// Leave them running (the default: a restarted driver with the same
    /// name picks them up, so fixing a bug in `user_update` costs no work
    /// that already ran for hours).
    #[default]
    Leave,
}

impl FromStr for OnError {
    type Err = String;
    fn from_str(text: &str) -> Result<OnError, String> {
        match text {
            "cancel" => Ok(OnError::Cancel),
            "leave" => Ok(OnError::Leave),
            other => Err(format!("\"{other}\" is not cancel or leave")),
        }
    }
}

/// Why the loop stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The program said no more, and every job ended.
    Done,
    /// The program failed: an exception, a bad answer, a bad job, an exit.
    UserError(String),
    /// The hub could not be used (unreachable at start, or refusing the token).
    HubError(String),
    /// `/kill` or `agent.kill()`; says which.
    Killed(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl Stop {
    /// The sentence the driver ends with, on stderr.
    pub fn explain(&self, settings: &Settings, canceled: bool, unfinished: usize) -> String {
        let name = &settings.name;
        let jobs = if unfinished == 0 {
            String::new()
        } else if canceled {
            format!("; its {unfinished} unfinished jobs were canceled")
        } else {
            format!(
                "; its {unfinished} unfinished jobs are left on the hub: run it again with --name {name} to pick them up"
            )
        };
        match self {
            Stop::Done => format!("drive {name}: done"),
            Stop::UserError(error) => format!(
                "drive {name}: stopped, the user code failed: {error}{jobs}{}",
                if canceled || unfinished == 0 {
                    String::new()
                } else {
                    " (--on-error leave, the default; --on-error cancel cancels them)".to_owned()
                }
            ),
            Stop::HubError(error) => {
                format!("drive {name}: stopped on a hub error: {error}{jobs}")
            }
            Stop::Killed(by) => format!("drive {name}: killed by {by}{jobs}"),
            Stop::Interrupted => format!("drive {name}: interrupted{jobs}"),
        }
    }
}

/// How the driver ended, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    AllSucceeded,
    /// Exit 1: a job did not succeed, or the driver was killed or interrupted.
    NotAllSucceeded,
    /// Exit 2: a usage or user-code error.
    UserError,
}

impl Outcome {
    /// The outcome of a stop with these jobs.
    pub fn of(stop: &Stop, jobs: &[Job]) -> Outcome {
        match stop {
            Stop::Done if jobs.iter().all(|job| job.state() == TaskState::Succeeded) => {
                Outcome::AllSucceeded
            }
            Stop::Done | Stop::Killed(_) | Stop::Interrupted => Outcome::NotAllSucceeded,
            Stop::UserError(_) | Stop::HubError(_) => Outcome::UserError,
        }
    }

    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::AllSucceeded => 0,
            Outcome::NotAllSucceeded => 1,
            Outcome::UserError => 2,
        }
    }

    /// In words, for the monitor.
    pub fn words(self) -> &'static str {
        match self {
            Outcome::AllSucceeded => "every job succeeded",
            Outcome::NotAllSucceeded => "not every job succeeded",
            Outcome::UserError => "the user code failed",
        }
    }
}

/// The table printed on stdout at the end: one line per job, then counts.
pub fn summary(name: &str, jobs: &[Job]) -> String {
    let mut text = String::new();
    for job in jobs {
        let view = job.view();
        let _ = writeln!(
            text,
            "{:>4}  {:<36}  {:<10}  {:<9}  {}",
            job.ordinal,
            job.id,
            view.state.as_str(),
            view.exit_code
                .map(|code| format!("exit {code}"))
                .unwrap_or_default(),
            view.name
        );
    }
    let mut counts: Vec<(TaskState, usize)> = Vec::new();
    for job in jobs {
        match counts.iter_mut().find(|(state, _)| *state == job.state()) {
            Some((_, n)) => *n += 1,
            None => counts.push((job.state(), 1)),
        }
    }
    let counted: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.as_str()))
        .collect();
    let _ = writeln!(
        text,
        "drive {name}: {} jobs{}{}",
        jobs.len(),
        if counted.is_empty() { "" } else { ": " },
        counted.join(", ")
    );
    text
}

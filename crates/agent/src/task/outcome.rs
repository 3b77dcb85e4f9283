//! How a task ended, and the sentences that say why.

use gantry_protocol::TaskState;
use gantry_protocol::job::JobSpec;

use crate::executor::Exit;

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// `succeeded`, `failed` or `canceled`.
    pub state: TaskState,
    /// The command's exit code, if it ran and exited.
    pub exit_code: Option<i64>,
    /// Why it failed or was canceled, and anything else worth saying (a failed epilogue).
    pub reason: Option<String>,
}

impl Outcome {
    pub(crate) fn failed(reason: impl Into<String>) -> Outcome {
        Outcome {
            state: TaskState::Failed,
            exit_code: None,
            reason: Some(reason.into()),
        }
    }

    /// The outcome a main command's end gives the task.
    pub(super) fn of_main(spec: &JobSpec, exit: Exit, note: Option<String>) -> Outcome {
        let mut outcome = match exit {
            Exit::Code(0) => Outcome {
                state: TaskState::Succeeded,
                exit_code: Some(0),
                reason: None,
            },
            Exit::Code(code) => Outcome {
                state: TaskState::Failed,
                exit_code: Some(code),
                reason: Some(format!("exited with code {code}")),
            },
            Exit::TimedOut => Outcome::failed(match spec.timeout {
                Some(timeout) => {
                    format!("stopped after running longer than its timeout of {timeout}")
                }
                None => "stopped after running longer than the agent's task timeout \
                         (`task` in its timeouts file; the job sets none)"
                    .into(),
            }),
            Exit::Canceled => Outcome {
                state: TaskState::Canceled,
                exit_code: None,
                reason: Some("canceled".into()),
            },
            Exit::OutOfMemory => Outcome {
                state: TaskState::Failed,
                exit_code: Some(137),
                reason: Some(format!(
                    "killed for using more memory than its limit of {}",
                    spec.resources
                        .memory
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "the machine".into())
                )),
            },
            Exit::Detached => Outcome::failed("the agent left the task running"),
        };
        outcome.note(note);
        outcome
    }

    /// Adds sentences to the reason, after what it says already.
    pub(super) fn note(&mut self, notes: impl IntoIterator<Item = String>) {
        for note in notes {
            self.reason = Some(match self.reason.take() {
                Some(reason) => format!("{reason}; {note}"),
                None => note,
            });
        }
    }
}

//! The program that makes the jobs: a child process spoken to over its
//! stdin and stdout, one JSON line at a time. Its stderr is the driver's,
//! so the user's prints and tracebacks reach the terminal as they happen.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::protocol::ToProgram;

/// How the program failed the protocol, in words for the person.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// It could not be started.
    #[error("cannot start {program}: {source}; check that it is installed and on PATH")]
    Start {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It closed its end: it exited or closed stdout.
    #[error("the program ended without answering ({status}); its error, if any, is above")]
    Ended {
        /// How it exited, in words.
        status: String,
    },
    /// Reading or writing the pipe failed.
    #[error("cannot talk to the program: {0}")]
    Pipe(#[from] std::io::Error),
}

/// A running program.
#[derive(Debug)]
pub struct Program {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Program {
    /// Starts `command` with its stdin and stdout piped to the driver.
    pub fn start(mut command: Command) -> Result<Program, ProgramError> {
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|source| ProgramError::Start { program, source })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout was piped")).lines();
        Ok(Program {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ToProgram<'_>) -> Result<(), ProgramError> {
        let mut line = serde_json::to_vec(message).expect("messages serialize");
        line.push(b'\n');
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.ended().await);
        };
        if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
            return Err(self.ended().await);
        }
        Ok(())
    }

    /// Sends a message and reads the one line that answers it.
    pub async fn ask(&mut self, message: &ToProgram<'_>) -> Result<String, ProgramError> {
        self.send(message).await?;
        match self.stdout.next_line().await? {
            Some(line) => Ok(line),
            None => Err(self.ended().await),
        }
    }

    async fn ended(&mut self) -> ProgramError {
        let status = match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            _ => "it closed its output".to_owned(),
        };
        ProgramError::Ended { status }
    }

    /// Closes its stdin (its signal to finish) and waits `grace` for it to
    /// exit, then kills it.
    pub async fn finish(mut self, grace: Duration) {
        drop(self.stdin.take());
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

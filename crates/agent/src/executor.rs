//! What the executors share: how a command is described, how it is steered
//! (cancel, pause, timeout) while it runs, and how it ends.
//!
//! An executor runs one command to its end. It sends the command's output to
//! a [`LogSink`] as it comes, byte for byte, and obeys a [`Control`]: cancel
//! means stop (SIGTERM, a grace period, SIGKILL), `paused` means freeze and
//! thaw. Time spent paused does not count against the timeout.
//!
//! Every executor ends in a [`Finished`]: how the command ended, how many
//! bytes of each stream it passed on, and anything worth telling about the
//! run. The task's steps read only that, whichever executor ran the command.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Which of the command's streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Bytes of each of a command's streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamCounts {
    /// Bytes of standard output.
    pub stdout: u64,
    /// Bytes of standard error.
    pub stderr: u64,
}

impl StreamCounts {
    /// The count for one stream.
    pub fn get(&self, stream: Stream) -> u64 {
        match stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        }
    }

    /// Adds `bytes` to one stream's count.
    pub fn add(&mut self, stream: Stream, bytes: u64) {
        match stream {
            Stream::Stdout => self.stdout += bytes,
            Stream::Stderr => self.stderr += bytes,
        }
    }

    /// What `self` holds beyond `base`, stream by stream.
    pub fn since(&self, base: StreamCounts) -> StreamCounts {
        StreamCounts {
            stdout: self.stdout.saturating_sub(base.stdout),
            stderr: self.stderr.saturating_sub(base.stderr),
        }
    }

    /// `self` and `more`, stream by stream.
    pub fn plus(&self, more: StreamCounts) -> StreamCounts {
        StreamCounts {
            stdout: self.stdout + more.stdout,
            stderr: self.stderr + more.stderr,
        }
    }

    /// Both streams together.
    pub fn total(&self) -> u64 {
        self.stdout + self.stderr
    }
}

/// A piece of a command's output, exactly as it was written.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Where it came from.
    pub stream: Stream,
    /// The bytes.
    pub bytes: Bytes,
}

/// Where an executor sends output. Bounded, so a slow disk slows the reader
/// rather than filling memory.
pub type LogSink = mpsc::Sender<Chunk>;

/// How a running command is steered from outside.
#[derive(Debug, Clone)]
pub struct Control {
    /// Stop the command: SIGTERM, then SIGKILL after `grace`.
    pub cancel: CancellationToken,
    /// The agent is leaving: stop watching the command but leave it running,
    /// to be re-attached when the agent starts again (Docker only).
    pub detach: CancellationToken,
    /// `true` while the command should be frozen.
    pub paused: watch::Receiver<bool>,
    /// Tells the task whether the command is frozen now, after each change.
    pub frozen: mpsc::UnboundedSender<bool>,
    /// How long a stopped command gets between SIGTERM and SIGKILL, read
    /// when it is stopped: a release sets the yield's grace before it stops
    /// a subprocess.
    pub grace: watch::Receiver<Duration>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "how", content = "code", rename_all = "snake_case")]
pub enum Exit {
    /// It exited with this code (128 + N for a signal N).
    Code(i64),
    /// It ran past its timeout and was stopped.
    TimedOut,
    /// It was canceled and stopped.
    Canceled,
    /// The kernel killed it for using more memory than its limit.
    OutOfMemory,
    /// The agent left it running to re-attach it when it starts again.
    Detached,
}

/// How a command's run ended, as every executor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// How it ended (an exit code, 128 + N for a signal N); [`Exit::Detached`]
    /// if the agent left it running.
    pub exit: Exit,
    /// Each stream's bytes of its output since it started, including any a
    /// re-attach skipped because the spool held them already.
    pub output: StreamCounts,
    /// Something worth telling about the run: the engine restarted, or the
    /// log could not be proved whole.
    pub note: Option<String>,
}

impl Finished {
    /// The agent left the command running (or never started it) to pick it
    /// up when it starts again.
    pub fn detached() -> Finished {
        Finished {
            exit: Exit::Detached,
            output: StreamCounts::default(),
            note: None,
        }
    }
}

/// What to run: a command in a folder, with an environment.
#[derive(Debug, Clone)]
pub struct Command {
    /// The program and its arguments; empty means the image's own command.
    pub argv: Vec<String>,
    /// Environment variables, on top of the image's (Docker) or a clean base (process).
    pub env: BTreeMap<String, String>,
    /// The task's working folder on this machine.
    pub work_dir: PathBuf,
    /// The command fails with [`Exit::TimedOut`] after running this long (paused time excluded).
    pub timeout: Option<Duration>,
}

/// Why a command could not be run. Each message is a sentence a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// Docker is not installed, not running, or not reachable.
    #[error("{0}")]
    DockerUnavailable(String),
    /// The image does not exist, or the registry hides it.
    #[error("{0}")]
    ImageNotFound(String),
    /// The registry refused the login.
    #[error("{0}")]
    RegistryAuth(String),
    /// A GPU was asked for and this machine cannot give one.
    #[error("{0}")]
    NoGpu(String),
    /// The disk is full.
    #[error("{0}")]
    DiskFull(String),
    /// A Docker API call did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The program could not be started.
    #[error("{0}")]
    Spawn(String),
    /// Anything else Docker or the system refused, with its words.
    #[error("{0}")]
    Other(String),
}

/// Tracks a timeout that stops counting while the command is paused.
#[derive(Debug)]
pub(crate) struct Deadline {
    remaining: Option<Duration>,
    since: tokio::time::Instant,
    running: bool,
}

impl Deadline {
    pub(crate) fn new(timeout: Option<Duration>) -> Deadline {
        Deadline {
            remaining: timeout,
            since: tokio::time::Instant::now(),
            running: true,
        }
    }

    /// The instant the timeout fires, or `None` while paused or without a timeout.
    pub(crate) fn at(&self) -> Option<tokio::time::Instant> {
        match (self.running, self.remaining) {
            (true, Some(remaining)) => Some(self.since + remaining),
            _ => None,
        }
    }

    pub(crate) fn pause(&mut self) {
        if self.running {
            if let Some(remaining) = self.remaining {
                self.remaining = Some(remaining.saturating_sub(self.since.elapsed()));
            }
            self.running = false;
        }
    }

    pub(crate) fn resume(&mut self) {
        if !self.running {
            self.since = tokio::time::Instant::now();
            self.running = true;
        }
    }
}

/// Sleeps until `at`, or forever when there is no deadline.
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Environment variables never passed to a task: they hold Gantry's own secrets.
pub const SECRET_ENV: &[&str] = &[
    "GANTRY_TOKEN",
    "ACCESS_TOKEN",
    "GANTRY_ADMIN_TOKEN",
    "GANTRY_DOCKER_PASSWORD",
    "DOCKER_PASSWORD",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_time_does_not_count() {
        let mut deadline = Deadline::new(Some(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(4)).await;
        deadline.pause();
        assert_eq!(deadline.at(), None);
        tokio::time::advance(Duration::from_secs(100)).await;
        deadline.resume();
        let left = deadline.at().unwrap() - tokio::time::Instant::now();
        assert_eq!(left, Duration::from_secs(6));
        assert_eq!(Deadline::new(None).at(), None);
    }
}

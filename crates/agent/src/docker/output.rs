//! Where a watched container's output comes from, on its way to the sink:
//! the attach stream, complete by construction, or the engine's log re-read
//! (after the agent or the engine restarted) through `reread`'s ledger.
//! Either way each stream's bytes are counted once the sink has them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;

use super::Engine;
use super::engine::classify;
use super::reread::{self, Entry, Ledger, TooShort};
use crate::executor::StreamCounts;
use crate::executor::{Chunk, ExecError, LogSink, Stream};

impl Engine {
    pub(super) fn reread(&self, id: &str, skip: StreamCounts, sink: &LogSink) -> Output {
        let counts = Arc::new(Mutex::new(skip));
        let poller = tokio::spawn(reread_log(
            self.clone(),
            id.to_owned(),
            skip,
            sink.clone(),
            counts.clone(),
        ));
        Output::Reread { poller, counts }
    }

    /// One read of a container's log with timestamps: `tail` entries from the
    /// end, or all. Each new byte goes to `sink`.
    async fn read_log(
        &self,
        id: &str,
        tail: Option<u64>,
        ledger: &mut Ledger,
        pass: &mut reread::Pass,
        sink: &LogSink,
    ) -> Result<Result<(), TooShort>, ExecError> {
        let tail = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(false)
            .tail(&tail)
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        loop {
            let item = match tokio::time::timeout(self.call_timeout, stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => return Ok(Ok(())),
                Err(_) => {
                    return Err(ExecError::Timeout(
                        "Docker did not answer while reading the container's log".into(),
                    ));
                }
            };
            let (stream_of, message) =
                match item.map_err(|e| classify("read the container's log", e))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (Stream::Stdout, message)
                    }
                    LogOutput::StdErr { message } => (Stream::Stderr, message),
                    LogOutput::StdIn { .. } => continue,
                };
            let Some(entry) = Entry::parse(stream_of, message) else {
                return Err(ExecError::Other(
                    "Docker's log of the container has an entry without a timestamp".into(),
                ));
            };
            match ledger.take(pass, &entry) {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => {
                    if sink
                        .send(Chunk {
                            stream: stream_of,
                            bytes,
                        })
                        .await
                        .is_err()
                    {
                        return Ok(Ok(()));
                    }
                }
                Err(short) => return Ok(Err(short)),
            }
        }
    }
}

/// Where a watched container's output comes from.
pub(super) enum Output {
    /// The attach stream, from before the start: complete by construction.
    Attached {
        reader: tokio::task::JoinHandle<()>,
        counts: Arc<Mutex<StreamCounts>>,
    },
    /// The engine's log, re-read.
    Reread {
        poller: tokio::task::JoinHandle<Result<Option<String>, ExecError>>,
        counts: Arc<Mutex<StreamCounts>>,
    },
}

impl Output {
    /// Waits for the output to end after the container did; returns each
    /// stream's bytes and a note if the log could not be proved whole.
    pub(super) async fn finish(self) -> (StreamCounts, Option<String>) {
        match self {
            Output::Attached { reader, counts } => {
                // The attach stream ends when the container's output is closed.
                let _ = tokio::time::timeout(Duration::from_secs(30), reader).await;
                let counts = *counts.lock().expect("counts poisoned");
                (counts, None)
            }
            Output::Reread { poller, counts } => {
                let note = match poller.await {
                    Ok(Ok(note)) => note,
                    Ok(Err(error)) => {
                        Some(format!("the rest of the log could not be read: {error}"))
                    }
                    Err(_) => Some("the rest of the log could not be read".into()),
                };
                let counts = *counts.lock().expect("counts poisoned");
                (counts, note)
            }
        }
    }

    /// Stops reading; returns each stream's bytes passed on so far. Nothing
    /// is lost by stopping at once: a byte is counted only once the sink
    /// has it, and the rest is re-read from the engine's log later.
    pub(super) async fn abandon(self) -> StreamCounts {
        let counts = match self {
            Output::Attached { reader, counts } => {
                reader.abort();
                let _ = reader.await;
                counts
            }
            Output::Reread { poller, counts } => {
                poller.abort();
                let _ = poller.await;
                counts
            }
        };
        *counts.lock().expect("counts poisoned")
    }
}

/// Passes the attach stream's output to the sink, counting each stream's bytes.
pub(super) async fn forward(
    mut output: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<LogOutput, DockerError>> + Send>,
    >,
    sink: LogSink,
    counts: Arc<Mutex<StreamCounts>>,
) {
    while let Some(item) = output.next().await {
        let chunk = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => Chunk {
                stream: Stream::Stdout,
                bytes: message,
            },
            Ok(LogOutput::StdErr { message }) => Chunk {
                stream: Stream::Stderr,
                bytes: message,
            },
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(error) => {
                tracing::warn!(%error, "the container's output stream broke");
                return;
            }
        };
        let (stream, length) = (chunk.stream, chunk.bytes.len() as u64);
        if sink.send(chunk).await.is_err() {
            return;
        }
        // Counted once the sink has it: a count never covers a byte the spool will not get.
        counts.lock().expect("counts poisoned").add(stream, length);
    }
}

/// Re-reads a container's log until it has exited and its output is all
/// taken; returns a note if the final whole read could not prove it.
async fn reread_log(
    engine: Engine,
    id: String,
    skip: StreamCounts,
    sink: LogSink,
    counts: Arc<Mutex<StreamCounts>>,
) -> Result<Option<String>, ExecError> {
    const SMALLEST_WINDOW: u64 = 1_000;
    const LARGEST_WINDOW: u64 = 256_000;
    let mut ledger = Ledger::new(skip);
    let mut whole = true;
    let mut window = SMALLEST_WINDOW;
    loop {
        // Whether it had exited is read before the log, so a read after an
        // exit holds every byte.
        let inspected = engine
            .call(
                "inspect the container",
                engine.docker.inspect_container(&id, None),
            )
            .await?;
        let exited = !inspected
            .state
            .as_ref()
            .is_some_and(|s| s.running.unwrap_or(false) || s.paused.unwrap_or(false));
        if exited {
            let mut pass = ledger.whole();
            let _ = engine
                .read_log(&id, None, &mut ledger, &mut pass, &sink)
                .await?;
            *counts.lock().expect("counts poisoned") = ledger.taken();
            return Ok(ledger.prove(&pass));
        }
        let new_entries = loop {
            let (tail, mut pass) = if whole {
                (None, ledger.whole())
            } else {
                (Some(window), ledger.tail())
            };
            let read = engine
                .read_log(&id, tail, &mut ledger, &mut pass, &sink)
                .await?;
            *counts.lock().expect("counts poisoned") = ledger.taken();
            match read {
                Ok(()) => {
                    whole = false;
                    break pass.new_entries;
                }
                Err(TooShort) => {
                    window *= 4;
                    whole = window > LARGEST_WINDOW;
                }
            }
        };
        window = (new_entries * 4).clamp(SMALLEST_WINDOW, LARGEST_WINDOW);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

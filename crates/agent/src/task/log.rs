//! The task's log on its way out: the executors send output into one bounded
//! channel (the [`LogSink`]); one writer appends it to the spool, and echoes
//! it to this process's stdout and stderr for `gantry run` (or offers its
//! lines to the agent's lossy copy, `--show-task-logs`); the shipper sends
//! the spool to the hub as it grows.
//!
//! Closing the log drops the sink, waits for the writer (the spool synced
//! and dropped, which tells every reader of the log that it is complete),
//! then for the shipper, and says how much of the log the hub holds.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::TaskContext;
use crate::executor::{Chunk, LogSink, Stream, StreamCounts};
use crate::log_copy::TaskCopy;
use crate::spool::{ShipPace, Shipped, Spool, Tail, ship};

/// A task's log while the task runs: the sink, its writer and its shipper.
#[derive(Debug)]
pub(super) struct TaskLog {
    sink: LogSink,
    /// Appends what the sink receives to the spool; ends once every sender
    /// is gone. `None` when the spool could not be opened.
    writer: Option<JoinHandle<Written>>,
    /// Ships the spool; `None` without a hub.
    shipper: Option<JoinHandle<Shipped>>,
    /// The spool's bytes of each stream when this run of the agent opened it.
    held: StreamCounts,
}

/// The spool as its writer left it.
#[derive(Debug)]
pub(super) struct Written {
    /// Its length in bytes.
    pub(super) size: u64,
    /// Its file.
    pub(super) path: PathBuf,
}

/// What became of the log once the task's output ended.
#[derive(Debug)]
pub(super) struct Closed {
    /// The spool, unless its writer failed.
    pub(super) written: Option<Written>,
    /// How shipping ended; `None` without a hub.
    pub(super) shipped: Option<Shipped>,
}

impl TaskLog {
    /// A log for a task whose spool could not be opened: output sent to it
    /// goes nowhere (nothing runs; the task goes straight to finishing).
    pub(super) fn unopened() -> TaskLog {
        TaskLog {
            sink: mpsc::channel(1).0,
            writer: None,
            shipper: None,
            held: StreamCounts::default(),
        }
    }

    /// Opens the task's spool (a new one, or, `resumed`, the one it had) and
    /// starts its writer and its shipper; `shown`: whether the writer echoes
    /// the output, and the copy it offers its lines to. The spool announces its length on
    /// `length`. The spool's byte 0 is the hub's byte `base`: a task that
    /// ran before (released, now run again) continues the hub's log, and a
    /// new spool of such a task begins with a line saying so.
    pub(super) async fn open(
        ctx: &TaskContext,
        id: &str,
        shown: (bool, Option<TaskCopy>),
        length: watch::Sender<u64>,
        resumed: bool,
        base: u64,
    ) -> std::io::Result<TaskLog> {
        let task_dir = ctx.host.task_dir(id);
        let spool = if resumed {
            Spool::reopen(&task_dir, length).await?
        } else {
            let mut spool = Spool::create(&task_dir, length).await?;
            if base > 0 {
                let line = format!(
                    "gantry: this task was released earlier and starts again here, on node {}; its log continues\n",
                    ctx.node
                );
                spool.append(Stream::Stderr, line.as_bytes()).await?;
            }
            spool
        };
        let held = spool.counts();
        let shipper = ctx.hub.clone().map(|hub| {
            let path = spool.path().to_owned();
            let length = spool.watch();
            let gauge = ctx.metrics.shipping(spool.watch());
            let (id, stop, hub_back) = (id.to_owned(), ctx.stop.clone(), ctx.hub_back.clone());
            tokio::spawn(async move {
                match Tail::open(&path, 0, Some(length)).await {
                    Ok(tail) => {
                        let pace = ShipPace::default();
                        ship(hub, id, tail, base, pace, stop, hub_back, gauge).await
                    }
                    Err(error) => {
                        tracing::error!(%error, path = %path.display(), "cannot read the task's spool; its log will not reach the hub");
                        Shipped::GaveUp { acked: 0 }
                    }
                }
            })
        });
        let (sink, chunks) = mpsc::channel::<Chunk>(64);
        let writer = tokio::spawn(write(spool, chunks, shown));
        Ok(TaskLog {
            sink,
            writer: Some(writer),
            shipper,
            held,
        })
    }

    /// Where the executors send the task's output.
    pub(super) fn sink(&self) -> &LogSink {
        &self.sink
    }

    /// The spool's bytes of each stream when this run of the agent opened
    /// it: where a re-attached container's output resumes.
    pub(super) fn held(&self) -> StreamCounts {
        self.held
    }

    /// Ends the output: waits for the writer, then for the shipper to send
    /// what is left (or to stop trying).
    pub(super) async fn close(self) -> Closed {
        drop(self.sink);
        let written = match self.writer {
            Some(writer) => writer.await.ok(),
            None => None,
        };
        let shipped = match self.shipper {
            Some(shipper) => Some(shipper.await.unwrap_or(Shipped::GaveUp { acked: 0 })),
            None => None,
        };
        Closed { written, shipped }
    }
}

impl Closed {
    /// The spool's path and how much of it the hub lacks, when it lacks any.
    pub(super) fn missing(&self) -> Option<(Shipped, u64, &Path)> {
        match (&self.written, self.shipped) {
            (Some(written), Some(shipped)) if shipped.acked() < written.size => {
                Some((shipped, written.size, &written.path))
            }
            _ => None,
        }
    }
}

/// Appends each chunk to the spool (and echoes it, or offers it to the
/// copy), until every sender is gone; then syncs the spool and drops it.
async fn write(
    mut spool: Spool,
    mut chunks: mpsc::Receiver<Chunk>,
    (echo, mut copy): (bool, Option<TaskCopy>),
) -> Written {
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    while let Some(chunk) = chunks.recv().await {
        if let Err(error) = spool.append(chunk.stream, &chunk.bytes).await {
            // The disk refused; the hub still gets what reached the spool.
            tracing::error!(%error, "cannot append to the task's spool");
        }
        if let Some(copy) = &mut copy {
            // Never waits: a slow stdout skips lines, not the task's output.
            copy.offer(chunk.stream, &chunk.bytes);
        }
        if echo {
            // A closed stdout (`| head`) must not stop the task.
            let _ = match chunk.stream {
                Stream::Stdout => stdout
                    .write_all(&chunk.bytes)
                    .await
                    .and(stdout.flush().await),
                Stream::Stderr => stderr
                    .write_all(&chunk.bytes)
                    .await
                    .and(stderr.flush().await),
            };
        }
    }
    // Its unfinished lines are shown.
    drop(copy);
    let _ = spool.sync().await;
    Written {
        size: spool.counts().total(),
        path: spool.path().to_owned(),
    }
}

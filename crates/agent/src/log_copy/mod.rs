//! `--show-task-logs`: the headless agent copies its tasks' output, line by
//! line and prefixed by the task (`[ID NAME] …`, `[ID NAME stderr] …`), to
//! its own stdout, as Prefect's local agent's `--show-flow-logs` does.
//!
//! Why stdout: the agent's own log goes to stderr, written on the runtime's
//! threads; task output in volume there could fill a slow stderr and stall
//! them. Here one thread of its own writes stdout, so a slow or stopped reader
//! (a terminal on hold, a full pipe) stalls that thread and nothing else, and
//! `gantry agent start --show-task-logs > tasks.log` keeps the two apart.
//!
//! Why lossy: the task's log is its spool on disk, which the hub gets whole;
//! this is a view of it. Each task's writer cuts its output into lines and
//! offers each to one bounded queue (at most [`QUEUED_BYTES`] held) without
//! ever waiting; a line that finds the queue full is skipped and counted, and
//! the task's next line that fits follows a line saying how many were skipped.
//! Lines a task skipped at its very end are said by the printer, once it has
//! room (`gantry: N more lines …`).

mod lines;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

pub use lines::SHOWN_BYTES;
use lines::{LineCut, escape_into, render};

use crate::executor::Stream;

/// The most bytes of rendered lines waiting for stdout at once.
pub const QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// The most lines waiting for stdout at once.
const QUEUED_LINES: usize = 4096;

/// How much the printer writes in one go.
const BATCH_BYTES: usize = 64 * 1024;

/// The agent's copy of its tasks' output, shared by every task (cheap to
/// clone). Its printer thread ends when the last clone and [`TaskCopy`] go.
#[derive(Debug, Clone)]
pub struct LogCopy {
    queue: SyncSender<Vec<u8>>,
    room: Arc<Room>,
}

/// What the senders and the printer share besides the queue.
#[derive(Debug, Default)]
struct Room {
    /// Bytes of lines in the queue.
    queued: AtomicUsize,
    /// Lines in the queue.
    lines: AtomicUsize,
    /// Lines skipped that no line of their task said (it ended first).
    unsaid: AtomicU64,
}

impl LogCopy {
    /// A copy to this process's stdout.
    pub fn to_stdout() -> std::io::Result<LogCopy> {
        LogCopy::start(std::io::stdout())
    }

    /// A copy to `out`, written by a thread of its own. The thread is not
    /// joined: a reader that never reads could keep it in a write forever,
    /// and the process's exit ends it.
    pub fn start(out: impl Write + Send + 'static) -> std::io::Result<LogCopy> {
        let (queue, lines) = sync_channel(QUEUED_LINES);
        let room = Arc::new(Room::default());
        let printer_room = room.clone();
        std::thread::Builder::new()
            .name("task-log-copy".into())
            .spawn(move || print(lines, &printer_room, out))?;
        Ok(LogCopy { queue, room })
    }

    /// The copy of one task's output, prefixed by its id and name.
    pub fn task(&self, id: &str, name: &str) -> TaskCopy {
        let mut prefix = format!("[{id} ").into_bytes();
        escape_into(&mut prefix, name.as_bytes());
        let mut err_prefix = prefix.clone();
        prefix.extend_from_slice(b"] ");
        err_prefix.extend_from_slice(b" stderr] ");
        TaskCopy {
            copy: self.clone(),
            prefix,
            err_prefix,
            out: LineCut::default(),
            err: LineCut::default(),
            skipped: 0,
        }
    }

    /// Whether a line may fit: checked before one is rendered, so that a
    /// full queue costs a skipped line no more than its count.
    fn has_room(&self) -> bool {
        self.room.lines.load(Ordering::Acquire) < QUEUED_LINES
            && self.room.queued.load(Ordering::Acquire) < QUEUED_BYTES
    }

    /// Queues `line` unless the queue is full; whether it was queued.
    fn offer(&self, line: Vec<u8>) -> bool {
        let len = line.len();
        if self.room.queued.fetch_add(len, Ordering::AcqRel) + len > QUEUED_BYTES {
            self.room.queued.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        // Counted before it is sent, so that the printer never takes a line
        // it was not counted for.
        self.room.lines.fetch_add(1, Ordering::AcqRel);
        match self.queue.try_send(line) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.room.lines.fetch_sub(1, Ordering::AcqRel);
                self.room.queued.fetch_sub(len, Ordering::AcqRel);
                false
            }
        }
    }
}

/// One task's output on its way to the agent's stdout: its two streams' lines
/// in progress and how many of its lines were skipped and not said yet. Its
/// unfinished lines are shown when it is dropped.
#[derive(Debug)]
pub struct TaskCopy {
    copy: LogCopy,
    prefix: Vec<u8>,
    err_prefix: Vec<u8>,
    out: LineCut,
    err: LineCut,
    skipped: u64,
}

impl TaskCopy {
    /// Takes a chunk of the task's output; never waits.
    pub fn offer(&mut self, stream: Stream, bytes: &[u8]) {
        let (cut, prefix) = match stream {
            Stream::Stdout => (&mut self.out, &self.prefix),
            Stream::Stderr => (&mut self.err, &self.err_prefix),
        };
        let (copy, skipped) = (&self.copy, &mut self.skipped);
        cut.feed(bytes, |shown, cut| {
            if copy.has_room() {
                send(copy, skipped, &self.prefix, render(prefix, shown, cut));
            } else {
                *skipped += 1;
            }
        });
    }
}

/// Sends `line`, after the line saying how many were skipped before it, if
/// any; counts it as skipped when either does not fit.
fn send(copy: &LogCopy, skipped: &mut u64, prefix: &[u8], line: Vec<u8>) {
    if *skipped > 0 {
        if !copy.offer(skipped_line(prefix, *skipped)) {
            *skipped += 1;
            return;
        }
        *skipped = 0;
    }
    if !copy.offer(line) {
        *skipped += 1;
    }
}

fn skipped_line(prefix: &[u8], skipped: u64) -> Vec<u8> {
    let mut line = prefix.to_vec();
    line.extend_from_slice(
        format!("gantry: {skipped} lines skipped: stdout was slower than the task\n").as_bytes(),
    );
    line
}

impl Drop for TaskCopy {
    fn drop(&mut self) {
        let rests = [
            (self.out.rest(), self.prefix.clone()),
            (self.err.rest(), self.err_prefix.clone()),
        ];
        for (rest, prefix) in rests {
            if let Some((shown, cut)) = rest {
                send(
                    &self.copy,
                    &mut self.skipped,
                    &self.prefix,
                    render(&prefix, &shown, cut),
                );
            }
        }
        if self.skipped > 0 && !self.copy.offer(skipped_line(&self.prefix, self.skipped)) {
            self.copy
                .room
                .unsaid
                .fetch_add(self.skipped, Ordering::AcqRel);
        }
    }
}

/// The printer: writes queued lines in batches until every sender is gone,
/// saying lines skipped unsaid as soon as they are known.
fn print(lines: Receiver<Vec<u8>>, room: &Room, mut out: impl Write) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let take = |line: Vec<u8>, batch: &mut Vec<u8>| {
        room.queued.fetch_sub(line.len(), Ordering::AcqRel);
        room.lines.fetch_sub(1, Ordering::AcqRel);
        batch.extend_from_slice(&line);
    };
    loop {
        let open = match lines.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                take(line, &mut batch);
                while batch.len() < BATCH_BYTES {
                    match lines.try_recv() {
                        Ok(line) => take(line, &mut batch),
                        Err(_) => break,
                    }
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        let unsaid = room.unsaid.swap(0, Ordering::AcqRel);
        if unsaid > 0 {
            batch.extend_from_slice(
                format!(
                    "gantry: {unsaid} more lines of task output skipped: stdout was slower than the tasks\n"
                )
                .as_bytes(),
            );
        }
        if !batch.is_empty() {
            // A closed stdout (`| head`) ends nothing: the lines go nowhere.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        if !open {
            return;
        }
    }
}

#[cfg(test)]
mod tests;

//! The copy against a stdout that can be held shut: prefixes, unfinished
//! lines, and the count of skipped lines adding up exactly.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::*;

/// A stdout whose writes wait while it is shut; says when the printer drops it.
struct Gate {
    written: Arc<Mutex<Vec<u8>>>,
    open: Arc<(Mutex<bool>, Condvar)>,
    dropped: Sender<()>,
}

impl Write for Gate {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let (lock, turn) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = turn.wait(open).unwrap();
        }
        self.written.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

struct Rig {
    copy: LogCopy,
    written: Arc<Mutex<Vec<u8>>>,
    open: Arc<(Mutex<bool>, Condvar)>,
    dropped: Receiver<()>,
}

impl Rig {
    fn new(open: bool) -> Rig {
        let written = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new((Mutex::new(open), Condvar::new()));
        let (dropped_tx, dropped) = channel();
        let copy = LogCopy::start(Gate {
            written: written.clone(),
            open: gate.clone(),
            dropped: dropped_tx,
        })
        .unwrap();
        Rig {
            copy,
            written,
            open: gate,
            dropped,
        }
    }

    fn open(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }

    /// Waits until the printer took every queued line.
    fn drained(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.copy.room.queued.load(Ordering::Acquire) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the queue never drained"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything printed, once every sender is gone and the printer ended.
    fn finish(self) -> String {
        drop(self.copy);
        self.dropped
            .recv_timeout(Duration::from_secs(30))
            .expect("the printer ends when every sender is gone");
        String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn each_line_is_prefixed_by_its_task_and_stream_and_unfinished_lines_are_shown() {
    let rig = Rig::new(true);
    let mut a = rig.copy.task("t-1", "train\x1b");
    let mut b = rig.copy.task("t-2", "eval");
    a.offer(Stream::Stdout, b"epoch 1\nepo");
    b.offer(Stream::Stderr, b"warning\n");
    a.offer(Stream::Stdout, b"ch 2\npartial");
    a.offer(Stream::Stderr, b"no newline");
    drop(a);
    drop(b);
    assert_eq!(
        rig.finish(),
        "[t-1 train\\x1b] epoch 1\n\
         [t-2 eval stderr] warning\n\
         [t-1 train\\x1b] epoch 2\n\
         [t-1 train\\x1b] partial\n\
         [t-1 train\\x1b stderr] no newline\n"
    );
}

#[test]
fn a_shut_stdout_never_holds_the_task_back_and_skipped_lines_are_counted_exactly() {
    const LINES: u64 = 100_000;
    let rig = Rig::new(false);
    let mut task = rig.copy.task("t-9", "flood");
    // Offered from another thread, so that a wait would fail the test rather than hang it.
    let (done_tx, done) = channel();
    let offering = std::thread::spawn(move || {
        for n in 0..LINES {
            task.offer(Stream::Stdout, format!("line {n}\n").as_bytes());
        }
        done_tx.send(()).unwrap();
        task
    });
    done.recv_timeout(Duration::from_secs(60))
        .expect("offering lines to a shut stdout must not wait");
    let mut task = offering.join().unwrap();
    rig.open();
    rig.drained();
    // The next line that fits says how many were skipped before it.
    task.offer(Stream::Stdout, format!("line {LINES}\n").as_bytes());
    drop(task);
    let text = rig.finish();

    let (mut shown, mut last) = (0, None);
    for n in text
        .lines()
        .filter_map(|l| l.strip_prefix("[t-9 flood] line "))
    {
        let n: u64 = n.parse().unwrap();
        assert!(last.is_none_or(|l| n > l), "out of order at {n}");
        last = Some(n);
        shown += 1;
    }
    let skipped = said_skipped(&text);
    assert!(skipped > 0, "nothing was skipped:\n{text}");
    // The queue, the printer's one batch (its lines are 19 bytes or more), the last line.
    assert!(
        shown <= (QUEUED_LINES + BATCH_BYTES / 19 + 1) as u64,
        "{shown} lines were held for a shut stdout"
    );
    assert_eq!(last, Some(LINES), "the line after the gate opened is shown");
    assert_eq!(shown + skipped, LINES + 1, "every line is shown or counted");
}

/// How many lines the notices in `text` say were skipped.
fn said_skipped(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let line = line.split_once("] ").map_or(line, |(_, rest)| rest);
            let n = line.strip_prefix("gantry: ")?;
            let n = n
                .strip_suffix(" lines skipped: stdout was slower than the task")
                .or_else(|| {
                    n.strip_suffix(
                        " more lines of task output skipped: stdout was slower than the tasks",
                    )
                })?;
            Some(n.parse::<u64>().unwrap())
        })
        .sum()
}

#[test]
fn lines_skipped_at_a_tasks_end_are_said_too() {
    let offered = 3 * QUEUED_LINES;
    let rig = Rig::new(false);
    let mut task = rig.copy.task("t-3", "short");
    for n in 0..offered {
        task.offer(Stream::Stderr, format!("e{n}\n").as_bytes());
    }
    drop(task);
    rig.open();
    let text = rig.finish();
    let shown = text
        .lines()
        .filter(|l| l.starts_with("[t-3 short stderr] e"))
        .count() as u64;
    let said = said_skipped(&text);
    assert!(said > 0, "{text}");
    assert_eq!(shown + said, offered as u64);
}

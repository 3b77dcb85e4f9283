//! A task's log for the UI: read through the agent's one spool reader
//! ([`gantry_agent::spool::Tail`], woken by the spool's own announcement of
//! each append) and sent in batches (every 100 ms at most), never one
//! message per line.

use std::time::Duration;

use gantry_agent::node::Agent;
use gantry_agent::spool::{self, Tail};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::view::LogBatch;

/// The most of an existing log sent in the first batch: the UI shows the
/// tail, and a 1 GB log must not cross the bridge at once.
const FIRST_BATCH_MAX: u64 = 2 << 20;
/// The most sent in one later batch.
const BATCH_MAX: usize = 512 << 10;
/// The least time between two batches of a growing log, unless the last
/// one was full and more is waiting.
const EVERY: Duration = Duration::from_millis(100);

/// Sends the task's log through `send` until the task's output is complete
/// and every byte was sent, `send` fails (the window went away), or `cancel`.
pub async fn follow(
    agent: Agent,
    id: String,
    send: impl Fn(LogBatch) -> bool,
    cancel: CancellationToken,
) {
    let opened = tokio::select! {
        _ = cancel.cancelled() => return,
        opened = agent.tail(&id, 0) => opened,
    };
    let Ok(Some(mut tail)) = opened else {
        // No log at all (or none that can be read): the view is complete.
        send(LogBatch {
            text: String::new(),
            offset: 0,
            done: true,
            line_ms: Vec::new(),
        });
        return;
    };
    let mut times = Times::default();
    let from = tail
        .len()
        .await
        .unwrap_or(0)
        .saturating_sub(FIRST_BATCH_MAX);
    tail.seek(from);
    times.line_start = from;
    // Bytes of a UTF-8 character cut by the end of a read, kept for the next.
    let mut carry: Vec<u8> = Vec::new();
    let mut next_batch = Instant::now();
    loop {
        let more = tokio::select! {
            _ = cancel.cancelled() => return,
            more = tail.wait() => more,
        };
        if !more {
            finish(&tail, &times, &carry, &send);
            return;
        }
        // What arrives until the batch is due goes in the same batch.
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(next_batch) => {}
        }
        let at = tail.offset();
        let Ok(bytes) = tail.read_now(BATCH_MAX).await else {
            finish(&tail, &times, &carry, &send);
            return;
        };
        times.read(tail.path()).await;
        let line_ms = times.lines(at, &bytes);
        carry.extend_from_slice(&bytes);
        let text = take_text(&mut carry);
        if !text.is_empty()
            && !send(LogBatch {
                text,
                offset: tail.offset(),
                done: false,
                line_ms,
            })
        {
            return;
        }
        // A full batch means more is waiting: read again without the pause.
        next_batch = if bytes.len() == BATCH_MAX {
            Instant::now()
        } else {
            Instant::now() + EVERY
        };
    }
}

/// Sends the last batch: what a cut character left behind, and the time of
/// the last line, which has no newline to end it.
fn finish(tail: &Tail, times: &Times, carry: &[u8], send: &impl Fn(LogBatch) -> bool) {
    let offset = tail.offset();
    let mut line_ms = Vec::new();
    if offset > times.line_start
        && let Some(ms) = times.at(times.line_start)
    {
        line_ms.push(ms);
    }
    send(LogBatch {
        text: String::from_utf8_lossy(carry).into_owned(),
        offset,
        done: true,
        line_ms,
    });
}

/// The spool's time marks, read as they grow, and where the line being
/// read began.
#[derive(Debug, Default)]
struct Times {
    marks: Vec<(u64, i64)>,
    /// Bytes of the `.times` file read so far.
    read: u64,
    /// The offset where the line not yet ended began.
    line_start: u64,
}

impl Times {
    /// Reads the marks written since the last call.
    async fn read(&mut self, log: &std::path::Path) {
        let Ok(mut file) = tokio::fs::File::open(log.with_extension("times")).await else {
            return;
        };
        if file
            .seek(std::io::SeekFrom::Start(self.read))
            .await
            .is_err()
        {
            return;
        }
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).await.is_err() {
            return;
        }
        let whole = bytes.len() - bytes.len() % spool::TIME_RECORD;
        self.marks.extend(spool::time_marks(&bytes[..whole]));
        self.read += whole as u64;
    }

    /// When the byte at `offset` was written: the last mark at or before it.
    fn at(&self, offset: u64) -> Option<i64> {
        let after = self.marks.partition_point(|m| m.0 <= offset);
        after.checked_sub(1).map(|i| self.marks[i].1)
    }

    /// The time of each line that `bytes` (read at `from`) ends.
    fn lines(&mut self, from: u64, bytes: &[u8]) -> Vec<i64> {
        if self.marks.is_empty() {
            // An older log without times: none at all, rather than some.
            return Vec::new();
        }
        let mut ms = Vec::new();
        for (i, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            ms.push(self.at(self.line_start).unwrap_or(0));
            self.line_start = from + i as u64 + 1;
        }
        ms
    }
}

/// Takes the text from `bytes`, leaving a character cut at the end for the
/// next read; bytes that are not UTF-8 become U+FFFD.
fn take_text(bytes: &mut Vec<u8>) -> String {
    let keep = match std::str::from_utf8(bytes) {
        Ok(_) => 0,
        // A cut character at the very end: at most 3 bytes wait for the rest.
        Err(error) if error.error_len().is_none() => bytes.len() - error.valid_up_to(),
        Err(_) => {
            // Invalid bytes inside; a cut character may still end the buffer.
            let tail_start = bytes.len().saturating_sub(3);
            (tail_start..bytes.len())
                .find(|&i| {
                    std::str::from_utf8(&bytes[i..])
                        .err()
                        .is_some_and(|e| e.valid_up_to() == 0 && e.error_len().is_none())
                })
                .map_or(0, |i| bytes.len() - i)
        }
    };
    let rest = bytes.split_off(bytes.len() - keep);
    let text = String::from_utf8_lossy(bytes).into_owned();
    *bytes = rest;
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_cut_character_for_the_next_read() {
        let all = "héllo wörld €".as_bytes();
        for cut in 0..=all.len() {
            let mut carry = all[..cut].to_vec();
            let mut text = take_text(&mut carry);
            carry.extend_from_slice(&all[cut..]);
            text.push_str(&take_text(&mut carry));
            assert_eq!(text, "héllo wörld €", "cut at {cut}");
            assert!(carry.is_empty());
        }
    }

    #[test]
    fn each_ended_line_gets_the_time_it_began() {
        let mut times = Times {
            marks: vec![(0, 1000), (6, 2000), (9, 3000)],
            ..Times::default()
        };
        // "one\ntw" then "o\nthree\n": lines begin at 0, 4 and 7.
        assert_eq!(times.lines(0, b"one\ntw"), [1000]);
        assert_eq!(times.lines(6, b"o\nthree\n"), [1000, 2000]);
        assert_eq!(times.at(9), Some(3000));
        let mut none = Times::default();
        assert!(none.lines(0, b"a\nb\n").is_empty());
    }

    #[test]
    fn replaces_bytes_that_are_not_text() {
        let mut carry = b"ok \xff\xfe then \xe2\x82".to_vec();
        let text = take_text(&mut carry);
        assert_eq!(text, "ok \u{fffd}\u{fffd} then ");
        assert_eq!(carry, b"\xe2\x82");
    }
}

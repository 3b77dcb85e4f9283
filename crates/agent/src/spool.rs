//! A task's log: written to disk first (the spool), then shipped to the hub
//! by byte offset.
//!
//! The spool file is the source of truth. The shipper reads it from the
//! offset the hub last acknowledged, so a failed or repeated send loses and
//! doubles nothing: the hub skips bytes it holds and answers a gap with the
//! offset it wants. Memory stays bounded however long the hub is away: the
//! bytes wait on disk, not in a queue.
//!
//! Beside each `log_<ms>.txt` lies `log_<ms>.streams`: one 9-byte record
//! (stream, then the offset where its run starts, little-endian) each time
//! the output switches between stdout and stderr. A record is written before
//! the bytes it announces, so after the agent is killed at any point the two
//! files still say exactly how many bytes of each stream the spool holds:
//! that is where re-reading the container's output from Docker resumes.
//!
//! And `log_<ms>.times`: one 16-byte record (the offset, then the time in ms
//! since the epoch, little-endian) before bytes written at least 10 ms after
//! the last record, so a viewer can show when each line came at 10 ms
//! precision for at most 1.6 KB/s, however fast the task writes.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::executor::Stream;
use gantry_client::{ClientError, HubClient};

/// Bytes of each of a command's streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

const RUN_RECORD: usize = 9;
/// The size of one record of the `.times` file.
pub const TIME_RECORD: usize = 16;
/// Bytes written within this many ms of the last time record share it.
const TIME_STEP_MS: i64 = 10;

/// The on-disk log of one task.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: tokio::fs::File,
    runs: tokio::fs::File,
    times: tokio::fs::File,
    last_time_ms: i64,
    size: u64,
    counts: StreamCounts,
    current: Stream,
    grown: watch::Sender<u64>,
}

impl Spool {
    /// Creates `logs/log_<timestamp>.txt` in the task's folder.
    pub async fn create(task_dir: &Path) -> std::io::Result<Spool> {
        let logs = task_dir.join("logs");
        crate::host::create_private_dir(&logs)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Spool::open_at(logs.join(format!("log_{stamp}.txt"))).await
    }

    /// Opens the task's newest spool to go on appending (after a restart), or
    /// creates one if it has none.
    pub async fn reopen(task_dir: &Path) -> std::io::Result<Spool> {
        match newest(task_dir) {
            Some(path) => Spool::open_at(path).await,
            None => Spool::create(task_dir).await,
        }
    }

    async fn open_at(path: PathBuf) -> std::io::Result<Spool> {
        let open = |path: PathBuf| async move {
            tokio::fs::OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(path)
                .await
        };
        let file = open(path.clone()).await?;
        let mut runs = open(path.with_extension("streams")).await?;
        let times = open(path.with_extension("times")).await?;
        let size = file.metadata().await?.len();
        let mut records = Vec::new();
        runs.seek(SeekFrom::Start(0)).await?;
        runs.read_to_end(&mut records).await?;
        let (counts, current) = count_runs(&records, size);
        Ok(Spool {
            path,
            file,
            runs,
            times,
            last_time_ms: i64::MIN,
            size,
            counts,
            current,
            grown: watch::channel(size).0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes of each stream the spool holds.
    pub fn counts(&self) -> StreamCounts {
        self.counts
    }

    /// Appends bytes of one stream; shippers watching the spool are told.
    pub async fn append(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if stream != self.current {
            let mut record = [0u8; RUN_RECORD];
            record[0] = stream_tag(stream);
            record[1..].copy_from_slice(&self.size.to_le_bytes());
            self.runs.write_all(&record).await?;
            self.runs.flush().await?;
            self.current = stream;
        }
        let now = now_ms();
        if now >= self.last_time_ms.saturating_add(TIME_STEP_MS) {
            let mut record = [0u8; TIME_RECORD];
            record[..8].copy_from_slice(&self.size.to_le_bytes());
            record[8..].copy_from_slice(&now.to_le_bytes());
            self.times.write_all(&record).await?;
            self.times.flush().await?;
            self.last_time_ms = now;
        }
        self.file.write_all(bytes).await?;
        // tokio's file writes in the background: only after the flush can
        // the shipper, reading through its own handle, see these bytes.
        self.file.flush().await?;
        self.size += bytes.len() as u64;
        self.counts.add(stream, bytes.len() as u64);
        self.grown.send_replace(self.size);
        Ok(())
    }

    /// Flushes to the disk; called when the task ends.
    pub async fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.runs.flush().await?;
        self.file.sync_data().await
    }

    /// Follows the spool's size; the channel closes when the spool is dropped.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.grown.subscribe()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The (offset, ms) marks of a `.times` file's bytes; a torn last record is
/// left out.
pub fn time_marks(records: &[u8]) -> Vec<(u64, i64)> {
    records
        .chunks_exact(TIME_RECORD)
        .map(|r| {
            let offset = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
            let ms = i64::from_le_bytes(r[8..].try_into().expect("8 bytes"));
            (offset, ms)
        })
        .collect()
}

/// The newest `log_*.txt` of a task, if any.
pub fn newest(task_dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(task_dir.join("logs"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    // Same-width millisecond stamps sort by time.
    files.sort();
    files.pop()
}

fn stream_tag(stream: Stream) -> u8 {
    match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    }
}

/// Per-stream byte counts of a spool of `size` bytes from its run records,
/// and the stream of the last run. Output starts as stdout; a torn last
/// record (killed mid-write) announced no bytes and is ignored.
fn count_runs(records: &[u8], size: u64) -> (StreamCounts, Stream) {
    let mut counts = StreamCounts::default();
    let mut stream = Stream::Stdout;
    let mut start = 0u64;
    for record in records.chunks_exact(RUN_RECORD) {
        let next = if record[0] == stream_tag(Stream::Stderr) {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        let at = u64::from_le_bytes(record[1..].try_into().expect("8 bytes")).min(size);
        counts.add(stream, at.saturating_sub(start));
        start = at.max(start);
        stream = next;
    }
    counts.add(stream, size.saturating_sub(start));
    (counts, stream)
}

/// How the shipper paces itself.
#[derive(Debug, Clone, Copy)]
pub struct ShipPace {
    /// The largest append, in bytes (the hub's limit).
    pub max_append: u64,
    /// How long to gather more output before sending.
    pub gather: Duration,
}

impl Default for ShipPace {
    fn default() -> Self {
        ShipPace {
            max_append: 1 << 20,
            gather: Duration::from_millis(100),
        }
    }
}

/// Ships the spool at `path` to the hub from `acked` until the spool is
/// closed and every byte is acknowledged, or `stop` is cancelled. Returns the
/// acknowledged size.
///
/// Network failures and 5xx are retried with jittered backoff, forever:
/// a log is never given up on while the agent runs. A 4xx other than a gap
/// means the hub will never take these bytes (the task is gone); shipping ends.
#[allow(clippy::too_many_arguments)] // what one shipper follows; a struct would only rename them
pub async fn ship(
    hub: HubClient,
    task_id: String,
    path: PathBuf,
    mut grown: watch::Receiver<u64>,
    mut acked: u64,
    pace: ShipPace,
    stop: CancellationToken,
    hub_back: std::sync::Arc<tokio::sync::Notify>,
) -> u64 {
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) => {
            tracing::error!(%error, path = %path.display(), "cannot read the task's spool; its log will not reach the hub");
            return acked;
        }
    };
    let mut backoff = Backoff::default();
    let mut closed = false;
    loop {
        let size = *grown.borrow_and_update();
        if acked >= size {
            if closed {
                return acked;
            }
            tokio::select! {
                changed = grown.changed() => if changed.is_err() { closed = true },
                _ = stop.cancelled() => return acked,
            }
            if !closed {
                // Let more output gather, so a flood of small writes goes in few requests.
                tokio::select! {
                    _ = tokio::time::sleep(pace.gather) => {}
                    _ = stop.cancelled() => return acked,
                }
            }
            continue;
        }
        let length = (size - acked).min(pace.max_append) as usize;
        let mut buffer = vec![0u8; length];
        let read = async {
            file.seek(SeekFrom::Start(acked)).await?;
            file.read_exact(&mut buffer).await
        };
        if let Err(error) = read.await {
            // The disk hiccuped; the bytes are still there to be read, so try again.
            tracing::warn!(%error, task = %task_id, "cannot read the task's spool; retrying");
            tokio::select! {
                _ = tokio::time::sleep(backoff.wait()) => {}
                _ = stop.cancelled() => return acked,
            }
            continue;
        }
        match hub.append_log(&task_id, acked, Bytes::from(buffer)).await {
            Ok(ack) => {
                acked = ack.committed;
                backoff.reset();
            }
            Err(ClientError::Api { body, .. }) if body.code == "log_gap" => {
                // The hub holds less (or more) than we thought: continue from its offset.
                acked = body.committed.unwrap_or(0).min(size);
            }
            Err(error) if error.is_transient() => {
                tracing::debug!(%error, "log shipping failed; retrying");
                // The backoff grows to 30 s; when the agent sees the hub
                // again the backlog goes at once rather than after the wait.
                tokio::select! {
                    _ = tokio::time::sleep(backoff.wait()) => {}
                    _ = hub_back.notified() => backoff.reset(),
                    _ = stop.cancelled() => return acked,
                }
            }
            Err(error) => {
                tracing::warn!(%error, task = %task_id, "the hub refused the task's log; shipping stops");
                return acked;
            }
        }
    }
}

/// Exponential backoff with full jitter, from 250 ms up to 30 s, so agents
/// that lost the hub together do not return together.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The next wait.
    pub fn wait(&mut self) -> Duration {
        use rand::Rng;
        let ceiling = (250u64 << self.failures.min(7)).min(30_000);
        self.failures += 1;
        Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
    }

    /// Back to the shortest wait after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut backoff = Backoff::default();
        let first = backoff.wait();
        assert!(first <= Duration::from_millis(250));
        for _ in 0..20 {
            assert!(backoff.wait() <= Duration::from_secs(30));
        }
        backoff.reset();
        assert!(backoff.wait() <= Duration::from_millis(250));
    }

    #[tokio::test]
    async fn spool_appends_and_signals() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path()).await.unwrap();
        let mut watch = spool.watch();
        spool.append(Stream::Stdout, b"abc\0\xff").await.unwrap();
        watch.changed().await.unwrap();
        assert_eq!(*watch.borrow(), 5);
        spool.sync().await.unwrap();
        assert_eq!(std::fs::read(spool.path()).unwrap(), b"abc\0\xff");
        drop(spool);
        assert!(
            watch.changed().await.is_err(),
            "closing the spool closes the watch"
        );
    }

    #[tokio::test]
    async fn times_mark_where_writes_began() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path()).await.unwrap();
        let before = now_ms();
        spool.append(Stream::Stdout, b"one\n").await.unwrap();
        // Within 10 ms of the first: shares its mark.
        spool.append(Stream::Stdout, b"two\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        spool.append(Stream::Stderr, b"three\n").await.unwrap();
        let mut bytes = std::fs::read(spool.path().with_extension("times")).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]); // a torn record is ignored
        let marks = time_marks(&bytes);
        let offsets: Vec<u64> = marks.iter().map(|m| m.0).collect();
        assert!(offsets == [0, 8] || offsets == [0, 4, 8], "{marks:?}");
        assert!(marks[0].1 >= before && marks.last().unwrap().1 >= marks[0].1 + 30);
    }

    #[tokio::test]
    async fn a_reopened_spool_knows_each_streams_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path()).await.unwrap();
        spool.append(Stream::Stdout, b"out1\n").await.unwrap();
        spool.append(Stream::Stderr, b"err\n").await.unwrap();
        spool.append(Stream::Stderr, b"err2\n").await.unwrap();
        spool.append(Stream::Stdout, b"o").await.unwrap();
        let expected = StreamCounts {
            stdout: 6,
            stderr: 9,
        };
        assert_eq!(spool.counts(), expected);
        drop(spool);
        let mut again = Spool::reopen(dir.path()).await.unwrap();
        assert_eq!(again.counts(), expected);
        again.append(Stream::Stdout, b"ut2\n").await.unwrap();
        again.append(Stream::Stderr, b"x").await.unwrap();
        drop(again);
        let last = Spool::reopen(dir.path()).await.unwrap();
        assert_eq!(
            last.counts(),
            StreamCounts {
                stdout: 10,
                stderr: 10
            }
        );
        assert_eq!(
            std::fs::read(last.path()).unwrap(),
            b"out1\nerr\nerr2\nout2\nx"
        );
    }

    #[test]
    fn torn_and_early_records_are_harmless() {
        // A switch to stderr at 4, then a torn record (killed mid-write).
        let mut records = vec![2u8];
        records.extend_from_slice(&4u64.to_le_bytes());
        records.extend_from_slice(&[1, 9, 0]);
        let (counts, stream) = count_runs(&records, 10);
        assert_eq!(
            (counts.stdout, counts.stderr, stream),
            (4, 6, Stream::Stderr)
        );
        // A record written, its bytes not: the run is empty.
        let (counts, _) = count_runs(&records, 4);
        assert_eq!((counts.stdout, counts.stderr), (4, 0));
    }
}

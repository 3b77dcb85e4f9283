//! A task's log: written to disk first (the spool), then shipped to the hub
//! by byte offset.
//!
//! The spool file is the source of truth. The shipper ([`ship`]) reads it
//! from the offset the hub last acknowledged, so a failed or repeated send
//! loses and doubles nothing: the hub skips bytes it holds and answers a gap
//! with the offset it wants. Memory stays bounded however long the hub is
//! away: the bytes wait on disk, not in a queue.
//!
//! Everyone who reads a spool as it grows (the shipper, the control socket's
//! `follow`, the desktop's log view) reads it through one [`Tail`], which
//! waits on the spool's own announcement of each append rather than polling
//! the file. The writer announces its length on a watch channel; the channel
//! closing (the spool dropped) says no more bytes will come.
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

mod ship;
mod tail;

pub use ship::{ShipPace, Shipped, ship};
pub use tail::Tail;

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::clock::now_ms;
use crate::executor::Stream;
/// The spool counts its bytes by stream; the type is the executors'.
pub use crate::executor::StreamCounts;

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
    length: watch::Sender<u64>,
}

impl Spool {
    /// Creates `logs/log_<timestamp>.txt` in the task's folder. The spool
    /// announces its length on `length` after each append, and dropping it
    /// closes that channel.
    pub async fn create(task_dir: &Path, length: watch::Sender<u64>) -> std::io::Result<Spool> {
        let logs = task_dir.join("logs");
        crate::host::create_private_dir(&logs)?;
        let stamp = now_ms().max(0);
        Spool::open_at(logs.join(format!("log_{stamp}.txt")), length).await
    }

    /// Opens the task's newest spool to go on appending (after a restart), or
    /// creates one if it has none; announces its length on `length` at once.
    pub async fn reopen(task_dir: &Path, length: watch::Sender<u64>) -> std::io::Result<Spool> {
        match newest(task_dir) {
            Some(path) => Spool::open_at(path, length).await,
            None => Spool::create(task_dir, length).await,
        }
    }

    async fn open_at(path: PathBuf, length: watch::Sender<u64>) -> std::io::Result<Spool> {
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
        // Readers that waited for the spool to open learn it did, and its length.
        length.send_replace(size);
        Ok(Spool {
            path,
            file,
            runs,
            times,
            last_time_ms: i64::MIN,
            size,
            counts,
            current,
            length,
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

    /// Appends bytes of one stream; readers waiting on the spool are told.
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
        // tokio's file writes in the background: only after the flush can a
        // reader, through its own handle, see these bytes.
        self.file.flush().await?;
        self.size += bytes.len() as u64;
        self.counts.add(stream, bytes.len() as u64);
        self.length.send_replace(self.size);
        Ok(())
    }

    /// Flushes to the disk; called when the task ends.
    pub async fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.runs.flush().await?;
        self.file.sync_data().await
    }

    /// Follows the spool's length; the channel closes when the spool is dropped.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.length.subscribe()
    }

    /// Reads this spool from `offset` as it grows, until it is dropped.
    pub async fn tail(&self, offset: u64) -> std::io::Result<Tail> {
        Tail::open(&self.path, offset, Some(self.watch())).await
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A length channel nobody else reads.
    fn length() -> watch::Sender<u64> {
        watch::channel(0).0
    }

    #[tokio::test]
    async fn spool_appends_and_signals() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path(), length()).await.unwrap();
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
        let mut spool = Spool::create(dir.path(), length()).await.unwrap();
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
        let mut spool = Spool::create(dir.path(), length()).await.unwrap();
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
        let mut again = Spool::reopen(dir.path(), length()).await.unwrap();
        assert_eq!(again.counts(), expected);
        again.append(Stream::Stdout, b"ut2\n").await.unwrap();
        again.append(Stream::Stderr, b"x").await.unwrap();
        drop(again);
        let last = Spool::reopen(dir.path(), length()).await.unwrap();
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

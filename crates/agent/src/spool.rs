//! A task's log: written to disk first (the spool), then shipped to the hub
//! by byte offset.
//!
//! The spool file is the source of truth. The shipper reads it from the
//! offset the hub last acknowledged, so a failed or repeated send loses and
//! doubles nothing: the hub skips bytes it holds and answers a gap with the
//! offset it wants. Memory stays bounded however long the hub is away: the
//! bytes wait on disk, not in a queue.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::hub::{ClientError, HubClient};

/// The on-disk log of one task.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
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
        let path = logs.join(format!("log_{stamp}.txt"));
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        Ok(Spool {
            path,
            file,
            size: 0,
            grown: watch::channel(0).0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends bytes; shippers watching the spool are told.
    pub async fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes).await?;
        self.size += bytes.len() as u64;
        self.grown.send_replace(self.size);
        Ok(())
    }

    /// Flushes to the disk; called when the task ends.
    pub async fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.sync_data().await
    }

    /// Follows the spool's size; the channel closes when the spool is dropped.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.grown.subscribe()
    }
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
pub async fn ship(
    hub: HubClient,
    task_id: String,
    path: PathBuf,
    mut grown: watch::Receiver<u64>,
    mut acked: u64,
    pace: ShipPace,
    stop: CancellationToken,
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
            tracing::error!(%error, "cannot read the task's spool");
            return acked;
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
                tokio::select! {
                    _ = tokio::time::sleep(backoff.wait()) => {}
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
        spool.append(b"abc\0\xff").await.unwrap();
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
}

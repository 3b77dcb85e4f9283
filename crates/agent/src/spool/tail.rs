//! Reading a spool as it grows, from any offset: the one reader of spool
//! files that the shipper, the control socket's `follow` and the desktop's
//! log view share.
//!
//! A [`Tail`] waits on the length its spool's writer announces after each
//! append (a watch channel) instead of polling the file: it wakes when bytes
//! arrive, and knows the log is complete when the channel closes (the writer
//! dropped its spool). It only reads bytes the writer announced, which were
//! flushed before the announcement, so it never reads half an append.
//! Without a writer (a task this agent no longer runs) it reads the file to
//! its end.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::watch;

/// A reader of one spool file from an offset, which waits for more.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    file: tokio::fs::File,
    offset: u64,
    /// The length its writer announces; `None` when nobody writes it.
    length: Option<watch::Receiver<u64>>,
}

impl Tail {
    /// Reads the spool file at `path` from `offset`. `length` is the length
    /// its writer announces ([`super::Spool::watch`], or the agent's
    /// [`crate::node::Agent::tail`]); `None` reads a spool nobody writes any
    /// more, to the end of the file.
    pub async fn open(
        path: &Path,
        offset: u64,
        length: Option<watch::Receiver<u64>>,
    ) -> std::io::Result<Tail> {
        Ok(Tail {
            path: path.to_owned(),
            file: tokio::fs::File::open(path).await?,
            offset,
            length,
        })
    }

    /// The spool file's path (its `.streams` and `.times` files lie beside it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the next read starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Moves where the next read starts (the shipper goes back to the hub's
    /// offset after a gap; a viewer starts near the end).
    pub fn seek(&mut self, offset: u64) {
        self.offset = offset;
    }

    /// How many bytes the spool holds now: what its writer announced, or
    /// the file's size when nobody writes it.
    pub async fn len(&self) -> std::io::Result<u64> {
        match &self.length {
            Some(length) => Ok(*length.borrow()),
            None => Ok(self.file.metadata().await?.len()),
        }
    }

    /// Whether the spool will not grow any more: its writer is gone.
    pub fn is_complete(&self) -> bool {
        self.length
            .as_ref()
            .is_none_or(|length| length.has_changed().is_err())
    }

    /// Up to `max` of the bytes the spool holds past the offset, without
    /// waiting; empty at its end. The offset moves past them.
    pub async fn read_now(&mut self, max: usize) -> std::io::Result<Bytes> {
        let end = self.len().await?;
        let want = end.saturating_sub(self.offset).min(max as u64) as usize;
        if want == 0 {
            return Ok(Bytes::new());
        }
        let mut buffer = vec![0u8; want];
        self.file.seek(SeekFrom::Start(self.offset)).await?;
        self.file.read_exact(&mut buffer).await?;
        self.offset += want as u64;
        Ok(Bytes::from(buffer))
    }

    /// Waits until the spool holds bytes past the offset (`true`), or its
    /// writer is gone and it never will (`false`). Cancel-safe.
    pub async fn wait(&mut self) -> bool {
        let Some(length) = &mut self.length else {
            // Nobody writes it: what the file holds is all there is.
            return self
                .file
                .metadata()
                .await
                .is_ok_and(|file| file.len() > self.offset);
        };
        loop {
            if *length.borrow_and_update() > self.offset {
                return true;
            }
            if length.changed().await.is_err() {
                // The writer is gone; its last announcement stands.
                return *length.borrow() > self.offset;
            }
        }
    }

    /// The next bytes past the offset, at most `max`, waiting for the writer
    /// when there are none yet; `None` once the writer is gone and every
    /// byte was read.
    pub async fn next(&mut self, max: usize) -> std::io::Result<Option<Bytes>> {
        loop {
            let bytes = self.read_now(max).await?;
            if !bytes.is_empty() {
                return Ok(Some(bytes));
            }
            if !self.wait().await {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Spool;
    use super::*;
    use crate::executor::Stream;

    #[tokio::test]
    async fn a_tail_wakes_for_each_append_and_ends_with_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path(), watch::channel(0).0)
            .await
            .unwrap();
        spool.append(Stream::Stdout, b"one\n").await.unwrap();
        let mut tail = spool.tail(0).await.unwrap();
        assert_eq!(tail.next(1024).await.unwrap().unwrap(), "one\n");
        let reader = tokio::spawn(async move {
            let mut read = Vec::new();
            while let Some(bytes) = tail.next(3).await.unwrap() {
                read.extend_from_slice(&bytes);
            }
            (read, tail.is_complete())
        });
        spool.append(Stream::Stderr, b"two\n").await.unwrap();
        tokio::task::yield_now().await;
        spool.append(Stream::Stdout, b"three\n").await.unwrap();
        drop(spool);
        let (read, complete) = reader.await.unwrap();
        assert_eq!(read, b"two\nthree\n");
        assert!(complete);
    }

    #[tokio::test]
    async fn a_tail_without_a_writer_reads_the_file_from_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(dir.path(), watch::channel(0).0)
            .await
            .unwrap();
        spool.append(Stream::Stdout, b"hello world").await.unwrap();
        let path = spool.path().to_owned();
        drop(spool);
        let mut tail = Tail::open(&path, 6, None).await.unwrap();
        assert_eq!(tail.len().await.unwrap(), 11);
        assert!(tail.is_complete());
        assert!(tail.wait().await, "bytes past the offset are there to read");
        assert_eq!(tail.next(1024).await.unwrap().unwrap(), "world");
        assert!(!tail.wait().await, "at the end, nothing more will come");
        assert_eq!(tail.next(1024).await.unwrap(), None);
        tail.seek(0);
        assert_eq!(tail.read_now(5).await.unwrap(), "hello");
        assert_eq!(tail.offset(), 5);
    }

    #[tokio::test]
    async fn a_tail_waits_for_a_spool_that_is_not_open_yet() {
        let dir = tempfile::tempdir().unwrap();
        let (length, announced) = watch::channel(0);
        // The reader knows the channel before the spool exists (the agent
        // makes it when it takes the task).
        let mut opened = announced.clone();
        let task_dir = dir.path().to_owned();
        let writer = tokio::spawn(async move {
            let mut spool = Spool::create(&task_dir, length).await.unwrap();
            spool.append(Stream::Stdout, b"late").await.unwrap();
            spool
        });
        opened.changed().await.unwrap();
        let path = super::super::newest(dir.path()).unwrap();
        let mut tail = Tail::open(&path, 0, Some(announced)).await.unwrap();
        assert_eq!(tail.next(1024).await.unwrap().unwrap(), "late");
        drop(writer.await.unwrap());
        assert_eq!(tail.next(1024).await.unwrap(), None);
    }
}

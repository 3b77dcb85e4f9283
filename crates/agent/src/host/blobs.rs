//! The host dir's content-addressed store: blobs kept once under their
//! sha256 (`storage/blobs/ab/cde/<sha256>`), verified as they arrive and
//! read-only once stored, and task results hard-linked into it so a result
//! costs its space once however often it is kept.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use gantry_protocol::is_sha256_hex;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::HostDir;

impl HostDir {
    /// The path of the blob `sha256`: two hex digits, three, then the hash.
    pub fn blob(&self, sha256: &str) -> PathBuf {
        self.blobs()
            .join(&sha256[..2])
            .join(&sha256[2..5])
            .join(sha256)
    }

    /// Whether the blob is stored here.
    pub fn has_blob(&self, sha256: &str) -> bool {
        is_sha256_hex(sha256) && self.blob(sha256).is_file()
    }

    /// Stores a stream as a blob, verifying it hashes to `sha256`.
    pub async fn store_blob<S, E>(&self, sha256: &str, mut stream: S) -> io::Result<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.tmp().join(uuid::Uuid::now_v7().to_string());
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let written = async {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| io::Error::other(format!("the download broke off: {e}")))?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.sync_all().await
        }
        .await;
        drop(file);
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(error);
        }
        let actual = hex::encode(hasher.finalize());
        if actual != sha256 {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the bytes received hash to {actual}, not to {sha256}"),
            ));
        }
        self.adopt_blob(&tmp, sha256).await?;
        Ok(size)
    }

    /// Moves a verified file into the store, read-only; a copy already there wins.
    async fn adopt_blob(&self, file: &Path, sha256: &str) -> io::Result<()> {
        let target = self.blob(sha256);
        if target.is_file() {
            let _ = tokio::fs::remove_file(file).await;
            return Ok(());
        }
        tokio::fs::create_dir_all(target.parent().expect("blob paths have parents")).await?;
        set_read_only(file)?;
        tokio::fs::rename(file, &target).await
    }

    /// Keeps a task's output file: hashes it, stores a copy as a blob (once
    /// per content), and hard-links that blob under the task's results, so a
    /// result costs its space once however often it is kept. Returns its
    /// sha256 and size.
    pub async fn keep_output(
        &self,
        task_id: &str,
        file: &Path,
        relative: &str,
    ) -> io::Result<(String, u64)> {
        let (sha256, size) = hash_file(file).await?;
        if !self.blob(&sha256).is_file() {
            // A copy, not a link: the blob must not change if the task's file does.
            let staged = self.tmp().join(uuid::Uuid::now_v7().to_string());
            tokio::fs::copy(file, &staged).await?;
            self.adopt_blob(&staged, &sha256).await?;
        }
        let shown = self.results(task_id).join(relative);
        if let Some(parent) = shown.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let _ = tokio::fs::remove_file(&shown).await;
        if tokio::fs::hard_link(self.blob(&sha256), &shown)
            .await
            .is_err()
        {
            tokio::fs::copy(self.blob(&sha256), &shown).await?;
        }
        Ok((sha256, size))
    }
}

/// The sha256 and size of a file, read in blocks.
pub async fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut file, &mut hasher)?;
        Ok((hex::encode(hasher.finalize()), size))
    })
    .await
    .map_err(io::Error::other)?
}

fn set_read_only(path: &Path) -> io::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(path, permissions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_verified_and_outputs_linked() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostDir::open(dir.path()).unwrap();
        let data = Bytes::from_static(b"hello");
        let sha = hex::encode(Sha256::digest(&data));
        let stream = futures::stream::iter([Ok::<_, io::Error>(data.clone())]);
        assert_eq!(host.store_blob(&sha, stream).await.unwrap(), 5);
        assert!(host.has_blob(&sha));
        assert!(
            host.blob(&sha).starts_with(
                dir.path()
                    .join("storage/blobs")
                    .join(&sha[..2])
                    .join(&sha[2..5])
            )
        );
        let wrong = futures::stream::iter([Ok::<_, io::Error>(Bytes::from_static(b"other"))]);
        let error = host.store_blob(&"0".repeat(64), wrong).await.unwrap_err();
        assert!(error.to_string().contains("hash to"), "{error}");
        assert!(!host.has_blob(&"0".repeat(64)));

        let work = host.work_dir("t1");
        std::fs::create_dir_all(work.join("out")).unwrap();
        std::fs::write(work.join("out/model.bin"), b"hello").unwrap();
        let (kept, size) = host
            .keep_output("t1", &work.join("out/model.bin"), "out/model.bin")
            .await
            .unwrap();
        assert_eq!((kept.as_str(), size), (sha.as_str(), 5));
        assert_eq!(
            std::fs::read(host.results("t1").join("out/model.bin")).unwrap(),
            b"hello"
        );
        // The task folder can go; the result stays.
        std::fs::remove_dir_all(host.task_dir("t1")).unwrap();
        assert_eq!(
            std::fs::read(host.results("t1").join("out/model.bin")).unwrap(),
            b"hello"
        );
    }
}

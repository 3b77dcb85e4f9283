//! Blobs: files addressed by their sha256, kept on disk under the data dir.
//!
//! The layout is the agent's: `blobs/ab/cde/<sha256>`, two hex digits, then
//! three, then the whole hash, so no folder grows past 4,096 entries.
//! An upload is written to `blobs/tmp/`, hashed as it streams, and renamed
//! into place only when the hash matches its address.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::HubError;

/// The size of the chunks a blob is read and sent in: large enough that a
/// multi-GB download is not thousands of tiny writes (the reader's default,
/// 4 KiB, sends at a seventh of the disk's speed), small enough to keep
/// memory flat.
pub const SEND_CHUNK: usize = 256 << 10;

/// The hub's blob folder.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

/// What became of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// Stored (or already there); its size.
    Stored(u64),
    /// The bytes hash to another sha256.
    Mismatch(String),
    /// The upload passed the size limit.
    TooLarge,
}

impl Blobs {
    /// Blobs under `root`, created if needed.
    pub fn open(root: &Path) -> Result<Blobs, HubError> {
        std::fs::create_dir_all(root.join("tmp")).map_err(|source| HubError::Io {
            what: format!("create {}", root.display()),
            source,
        })?;
        Ok(Blobs {
            root: root.to_owned(),
        })
    }

    /// Where the blob `sha256` lives; the caller has checked it is a sha256.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root
            .join(&sha256[..2])
            .join(&sha256[2..5])
            .join(sha256)
    }

    /// The blob's size, if the hub has it.
    pub async fn size(&self, sha256: &str) -> Option<u64> {
        tokio::fs::metadata(self.path(sha256))
            .await
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Streams an upload to disk, keeping it only if it hashes to `sha256`.
    pub async fn put<S, E>(
        &self,
        sha256: &str,
        mut body: S,
        max_bytes: u64,
    ) -> Result<Upload, HubError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.root.join("tmp").join(uuid::Uuid::now_v7().to_string());
        let io = |what: &str, source| HubError::Io {
            what: what.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io("create a blob upload file", e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let outcome = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| HubError::Upload(e.to_string()))?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Ok(Some(Upload::TooLarge));
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| io("write a blob upload", e))?;
            }
            file.sync_all()
                .await
                .map_err(|e| io("sync a blob upload", e))?;
            Ok::<_, HubError>(None)
        }
        .await;
        drop(file);
        let refused = match outcome {
            Ok(None) => {
                let actual = hex::encode(hasher.finalize());
                (actual != sha256).then_some(Upload::Mismatch(actual))
            }
            Ok(Some(refusal)) => Some(refusal),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        if let Some(refusal) = refused {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Ok(refusal);
        }
        let target = self.path(sha256);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io("create a blob folder", e))?;
        }
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|e| io("move a blob into place", e))?;
        Ok(Upload::Stored(size))
    }
}

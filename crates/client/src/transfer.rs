//! Moving files: blob uploads streamed from a file (asking the hub first,
//! so what it holds is not sent again), downloads streamed to a file and
//! verified by sha256 as they are written (kept under a temporary name and
//! renamed only once verified), a task's outputs, and the agent's side of
//! the relay that serves outputs kept on its node.
//!
//! Memory stays flat whatever the size: files are read and written in
//! chunks of [`CHUNK`] bytes, and progress is reported per chunk through a
//! [`Progress`] callback that receives how many more bytes moved.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use gantry_protocol::wire::{FetchFailure, FetchList, OutputList};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{ClientError, HubClient, path_part};

/// The size of the chunks files are read in.
pub const CHUNK: usize = 256 << 10;

/// Called with the number of bytes moved since the last call.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// A progress callback that ignores progress.
pub fn no_progress() -> Progress {
    Arc::new(|_| {})
}

/// What became of a file upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The file's sha256.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the hub held it already, so nothing was sent.
    pub skipped: bool,
}

/// The sha256 and size of a file, read in chunks on a blocking thread.
pub async fn hash_file(path: &Path) -> Result<(String, u64), ClientError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&owned)?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher)?;
        Ok::<_, std::io::Error>((hex::encode(hasher.finalize()), size))
    })
    .await
    .map_err(|e| ClientError::LocalFile(e.to_string()))?
    .map_err(|e| ClientError::LocalFile(format!("cannot read {}: {e}", path.display())))
}

impl HubClient {
    /// Uploads a file as a blob unless the hub holds it already; `progress`
    /// hears of each chunk sent.
    pub async fn upload_file(
        &self,
        path: &Path,
        progress: Progress,
    ) -> Result<Uploaded, ClientError> {
        let (sha256, size) = hash_file(path).await?;
        self.upload_known(path, &sha256, size, progress).await
    }

    /// Uploads a file whose sha256 and size are known, unless the hub holds it.
    pub async fn upload_known(
        &self,
        path: &Path,
        sha256: &str,
        size: u64,
        progress: Progress,
    ) -> Result<Uploaded, ClientError> {
        let uploaded = |skipped| Uploaded {
            sha256: sha256.to_owned(),
            size,
            skipped,
        };
        if self.blob_size(sha256).await?.is_some() {
            return Ok(uploaded(true));
        }
        let body = file_body(path, progress).await?;
        let request = self
            .request(Method::PUT, &format!("v1/blobs/{}", path_part(sha256)))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body);
        self.send(request).await?;
        Ok(uploaded(false))
    }

    /// Downloads the blob `sha256` to `dest`, verified; returns its size.
    pub async fn download_blob(
        &self,
        sha256: &str,
        dest: &Path,
        progress: Progress,
    ) -> Result<u64, ClientError> {
        let response = self
            .send(self.request(Method::GET, &format!("v1/blobs/{}", path_part(sha256))))
            .await?;
        self.save_verified(response, sha256, dest, progress).await
    }

    /// A task's outputs, with where each is kept.
    pub async fn outputs(&self, id: &str) -> Result<OutputList, ClientError> {
        self.json(
            self.request(Method::GET, &format!("v1/tasks/{}/outputs", path_part(id)))
                .timeout(Duration::from_secs(30)),
        )
        .await
    }

    /// Downloads a task's output to `dest`, verified against `sha256` (from
    /// [`HubClient::outputs`]); returns its size. An output kept on a node
    /// comes from that node through the hub.
    pub async fn download_output(
        &self,
        id: &str,
        path: &str,
        sha256: &str,
        dest: &Path,
        progress: Progress,
    ) -> Result<u64, ClientError> {
        let segments: Vec<String> = path.split('/').map(path_part).collect();
        let url = format!("v1/tasks/{}/outputs/{}", path_part(id), segments.join("/"));
        let response = self.send(self.request(Method::GET, &url)).await?;
        self.save_verified(response, sha256, dest, progress).await
    }

    /// Streams a response to a temporary file beside `dest`, hashing as it
    /// writes, and renames it to `dest` only if it hashes to `sha256`.
    async fn save_verified(
        &self,
        response: reqwest::Response,
        sha256: &str,
        dest: &Path,
        progress: Progress,
    ) -> Result<u64, ClientError> {
        let local = |e: std::io::Error| {
            ClientError::LocalFile(format!("cannot write {}: {e}", dest.display()))
        };
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(local)?;
        }
        let partial = partial_name(dest);
        let mut file = tokio::fs::File::create(&partial).await.map_err(local)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = response.bytes_stream();
        let written = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| ClientError::BrokenOff {
                    file: dest.display().to_string(),
                    detail: match self.network_error(e) {
                        ClientError::Unreachable { detail, .. }
                        | ClientError::Tls { detail, .. }
                        | ClientError::Protocol { detail, .. } => detail,
                        other => other.to_string(),
                    },
                })?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(local)?;
                progress(chunk.len() as u64);
            }
            file.flush().await.map_err(local)?;
            file.sync_all().await.map_err(local)
        }
        .await;
        drop(file);
        let actual = hex::encode(hasher.finalize());
        let verdict = written.and_then(|()| {
            if actual == sha256 {
                Ok(())
            } else {
                Err(ClientError::Corrupt {
                    file: dest.display().to_string(),
                    expected: sha256.to_owned(),
                    actual,
                })
            }
        });
        if let Err(error) = verdict {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
        tokio::fs::rename(&partial, dest).await.map_err(local)?;
        Ok(size)
    }

    // ---- the agent's side of the relay ----

    /// Long-polls for requests that this node send outputs it keeps.
    pub async fn fetches(&self, wait: Duration) -> Result<FetchList, ClientError> {
        let request = self
            .request(Method::GET, "v1/agent/fetches")
            .query(&[("wait", wait.as_secs().to_string())])
            .timeout(wait + Duration::from_secs(15));
        self.json(request).await
    }

    /// Sends a kept output's bytes for fetch request `id`; the hub pipes
    /// them to the waiting download. Ends with an error when the download
    /// goes away.
    pub async fn send_fetch(&self, id: &str, file: &Path) -> Result<(), ClientError> {
        let size = tokio::fs::metadata(file)
            .await
            .map_err(|e| ClientError::LocalFile(format!("cannot read {}: {e}", file.display())))?
            .len();
        let body = file_body(file, no_progress()).await?;
        let request = self
            .request(Method::PUT, &format!("v1/agent/fetches/{}", path_part(id)))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body);
        let response = self.send(request).await?;
        debug_assert!(
            response.status() == StatusCode::NO_CONTENT || response.status().is_success()
        );
        Ok(())
    }

    /// Says why this node cannot send the output of fetch request `id`.
    pub async fn fail_fetch(&self, id: &str, reason: &str) -> Result<(), ClientError> {
        let request = self
            .request(
                Method::POST,
                &format!("v1/agent/fetches/{}/fail", path_part(id)),
            )
            .timeout(Duration::from_secs(30))
            .json(&FetchFailure {
                reason: reason.to_owned(),
            });
        self.send(request).await.map(|_| ())
    }
}

/// A request body that streams `path` in chunks, telling `progress`.
async fn file_body(path: &Path, progress: Progress) -> Result<reqwest::Body, ClientError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ClientError::LocalFile(format!("cannot read {}: {e}", path.display())))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, CHUNK).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            progress(chunk.len() as u64);
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

/// `dir/.name.<n>.partial`: where a download is written until verified.
fn partial_name(dest: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    dest.with_file_name(format!(
        ".{name}.{}-{}.partial",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

//! The outputs: the files the job names, found in the task folder after the
//! epilogue, kept in this machine's storage (`with_local_storage`, or no hub)
//! or uploaded to the hub's blob store; their manifest goes to the hub. An
//! output that is missing or could not be kept is a note on the outcome.

use std::path::{Path, PathBuf};

use gantry_client::ClientError;
use gantry_protocol::job::JobSpec;
use gantry_protocol::wire::{OutputFile, OutputManifest, OutputStore};

use super::{Outcome, Runner, Stage, TaskContext};
use crate::backoff::Backoff;
use crate::host::inside;

/// Why an output file could not be kept.
#[derive(Debug, thiserror::Error)]
enum KeepError {
    /// Copying it into this machine's storage failed.
    #[error("{0}")]
    Local(std::io::Error),
    #[error(transparent)]
    Upload(#[from] UploadError),
}

/// Why an output file could not be uploaded to the hub.
#[derive(Debug, thiserror::Error)]
enum UploadError {
    #[error("no hub to upload to")]
    NoHub,
    #[error("{0}")]
    Read(std::io::Error),
    #[error("{0}")]
    Hub(ClientError),
}

impl Runner<'_> {
    /// Keeps or uploads the outputs; next is finishing.
    pub(super) async fn outputs(&self, mut outcome: Outcome) -> Stage {
        let (id, spec) = (&self.run.task.id, &self.run.task.spec);
        if let Some(note) = collect_outputs(self.ctx, id, spec, &self.command.work_dir).await {
            outcome.note([note]);
        }
        Stage::Finishing(outcome)
    }
}

/// Keeps the outputs in local storage, or uploads them, and reports their
/// manifest. Returns a note about outputs that were missing or failed.
async fn collect_outputs(
    ctx: &TaskContext,
    id: &str,
    spec: &JobSpec,
    work_dir: &Path,
) -> Option<String> {
    if spec.outputs.is_empty() {
        return None;
    }
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for output in &spec.outputs {
        let root = inside(work_dir, output);
        let Ok(found) = walk(&root) else {
            problems.push(format!("output {output} was not found"));
            continue;
        };
        for path in found {
            let relative = path
                .strip_prefix(work_dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            match keep(ctx, id, &path, &relative).await {
                Ok((sha256, size, stored)) => files.push(OutputFile {
                    path: relative,
                    size,
                    sha256,
                    stored,
                }),
                Err(error) => {
                    problems.push(format!("output {relative} could not be kept: {error}"))
                }
            }
        }
    }
    if let Some(hub) = &ctx.hub {
        let manifest = OutputManifest { files };
        let mut backoff = Backoff::default();
        loop {
            match hub.put_outputs(id, &manifest).await {
                Ok(_) => break,
                Err(error) if error.is_transient() && !ctx.stop.is_cancelled() => {
                    tokio::time::sleep(backoff.wait()).await;
                }
                Err(error) => {
                    problems.push(format!("the outputs' list could not be sent: {error}"));
                    break;
                }
            }
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Keeps one output file where the agent's settings say: (sha256, size, where).
async fn keep(
    ctx: &TaskContext,
    id: &str,
    path: &Path,
    relative: &str,
) -> Result<(String, u64, OutputStore), KeepError> {
    if ctx.config.with_local_storage || ctx.hub.is_none() {
        let (sha256, size) = ctx
            .host
            .keep_output(id, path, relative)
            .await
            .map_err(KeepError::Local)?;
        Ok((sha256, size, OutputStore::Node))
    } else {
        let (sha256, size) = upload(ctx, path).await?;
        Ok((sha256, size, OutputStore::Hub))
    }
}

/// Uploads a file to the hub's blob store, unless it holds it already.
async fn upload(ctx: &TaskContext, path: &Path) -> Result<(String, u64), UploadError> {
    let hub = ctx.hub.as_ref().ok_or(UploadError::NoHub)?;
    let (sha256, size) = crate::host::hash_file(path)
        .await
        .map_err(UploadError::Read)?;
    if hub
        .blob_size(&sha256)
        .await
        .map_err(UploadError::Hub)?
        .is_none()
    {
        hub.put_blob_file(&sha256, path)
            .await
            .map_err(UploadError::Hub)?;
        crate::usage::uploaded(size);
    }
    Ok((sha256, size))
}

/// The files at `root`: itself if a file, else every file below it, in order.
fn walk(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let metadata = std::fs::symlink_metadata(root)?;
    if metadata.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    if !metadata.is_dir() {
        // Symlinks could point outside the task folder; they are not outputs.
        return Ok(Vec::new());
    }
    let mut entries: Vec<_> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        files.extend(walk(&entry)?);
    }
    Ok(files)
}

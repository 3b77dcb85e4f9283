//! A job's `checkpoint:` folder across runs. When the node releases a task
//! (it yields to its person), the folder as the task left it is copied into
//! the host dir (`checkpoints/<task id>/`) and uploaded to the hub as a
//! folder (a `gantry_protocol::tree` manifest and one blob per file, files
//! the hub holds not sent again), so whichever node runs the task next gets
//! it back. When a task assigned with a checkpoint starts, the folder is
//! placed *writable* at its path: from the local copy when that copy's
//! manifest is the one assigned, else fetched from the hub.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gantry_client::ClientError;
use gantry_protocol::job::Executor;
use gantry_protocol::tree::{TreeFile, TreeManifest};
use gantry_protocol::wire::Task;
use sha2::{Digest, Sha256};

use super::TaskContext;
use super::prepare::{BlobError, fetch_blob};
use crate::host::inside;

/// Why a checkpoint could not be kept or placed.
#[derive(Debug, thiserror::Error)]
pub(super) enum CheckpointError {
    #[error("cannot copy the checkpoint folder {path}: {source}")]
    Copy {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot upload the checkpoint folder to the hub: {0}")]
    Upload(ClientError),
    #[error("checkpoint {tree}: {source}")]
    Fetch { tree: String, source: BlobError },
    #[error("checkpoint {tree} is not a folder manifest: {reason}")]
    Manifest { tree: String, reason: String },
}

/// `GANTRY_CHECKPOINT`: the checkpoint folder as the task sees it (inside
/// its container, or on this machine for a subprocess).
pub(super) fn seen_by_task(executor: Executor, work_dir: &Path, path: &str) -> String {
    match executor {
        Executor::Docker => format!(
            "{}/{}",
            crate::docker::TASK_MOUNT,
            path.trim_start_matches("./").trim_end_matches('/')
        ),
        Executor::Process => inside(work_dir, path).display().to_string(),
    }
}

/// Places the task's checkpoint folder, writable, at its path before the
/// command starts: the one it was assigned with, or an empty folder.
pub(super) async fn place(
    ctx: &TaskContext,
    task: &Task,
    work_dir: &Path,
) -> Result<(), CheckpointError> {
    let Some(path) = &task.spec.checkpoint else {
        return Ok(());
    };
    let target = inside(work_dir, path);
    let copy_error = |source| CheckpointError::Copy {
        path: path.clone(),
        source,
    };
    tokio::fs::create_dir_all(&target)
        .await
        .map_err(copy_error)?;
    let Some(tree) = task
        .checkpoint
        .as_deref()
        .map(|c| c.trim_start_matches("tree:"))
    else {
        return Ok(());
    };
    let local = ctx.host.checkpoint(&task.id);
    let kept = tokio::fs::read_to_string(ctx.host.checkpoint_tree(&task.id))
        .await
        .unwrap_or_default();
    if kept.trim() == tree && local.is_dir() {
        tracing::info!(task = %task.id, "placing the task's checkpoint from this node's copy");
        return blocking(move || copy_folder(&local, &target))
            .await
            .map_err(copy_error);
    }
    tracing::info!(task = %task.id, %tree, "fetching the task's checkpoint from the hub");
    let fetch = |source| CheckpointError::Fetch {
        tree: tree.to_owned(),
        source,
    };
    let manifest_path = fetch_blob(ctx, tree).await.map_err(fetch)?;
    let bytes = tokio::fs::read(&manifest_path)
        .await
        .map_err(|e| CheckpointError::Manifest {
            tree: tree.to_owned(),
            reason: e.to_string(),
        })?;
    let manifest = TreeManifest::parse(&bytes).map_err(|e| CheckpointError::Manifest {
        tree: tree.to_owned(),
        reason: e.to_string(),
    })?;
    let mut placed = Vec::new();
    for file in &manifest.files {
        placed.push((
            fetch_blob(ctx, &file.sha256).await.map_err(fetch)?,
            file.clone(),
        ));
    }
    blocking(move || {
        for (blob, file) in placed {
            let to = inside(&target, &file.path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // A copy, never a link: the task writes here, the blob store is read-only.
            std::fs::copy(&blob, &to)?;
            let mode = if file.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    })
    .await
    .map_err(copy_error)
}

/// Keeps the released task's checkpoint folder in the host dir and uploads
/// it; its `tree:<sha256>`, or `None` when the job names none or the task
/// left none.
pub(super) async fn keep(
    ctx: &TaskContext,
    task: &Task,
    work_dir: &Path,
) -> Result<Option<String>, CheckpointError> {
    let Some(path) = &task.spec.checkpoint else {
        return Ok(None);
    };
    let source = inside(work_dir, path);
    if !source.is_dir() {
        return Ok(None);
    }
    let copy_error = |source| CheckpointError::Copy {
        path: path.clone(),
        source,
    };
    let local = ctx.host.checkpoint(&task.id);
    let files = {
        let local = local.clone();
        blocking(move || {
            if local.exists() {
                std::fs::remove_dir_all(&local)?;
            }
            crate::host::create_private_dir(&local)?;
            copy_folder(&source, &local)?;
            list(&local)
        })
        .await
        .map_err(copy_error)?
    };
    let mut entries = Vec::new();
    for (relative, file) in &files {
        let (sha256, size) = crate::host::hash_file(file).await.map_err(copy_error)?;
        let executable = std::fs::metadata(file)
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        entries.push(TreeFile {
            path: relative.clone(),
            sha256,
            size,
            executable,
        });
    }
    let manifest = TreeManifest::new(entries);
    if let Some(hub) = &ctx.hub {
        for (entry, (_, file)) in manifest.files.iter().zip(sorted(files)) {
            if hub
                .blob_size(&entry.sha256)
                .await
                .map_err(CheckpointError::Upload)?
                .is_none()
            {
                hub.put_blob_file(&entry.sha256, &file)
                    .await
                    .map_err(CheckpointError::Upload)?;
                if let Ok(meta) = tokio::fs::metadata(&file).await {
                    crate::usage::uploaded(meta.len());
                }
            }
        }
    }
    let bytes = manifest.to_bytes();
    let tree = hex::encode(Sha256::digest(&bytes));
    if let Some(hub) = &ctx.hub
        && hub
            .blob_size(&tree)
            .await
            .map_err(CheckpointError::Upload)?
            .is_none()
    {
        let size = bytes.len() as u64;
        hub.put_blob(&tree, bytes.into())
            .await
            .map_err(CheckpointError::Upload)?;
        crate::usage::uploaded(size);
    }
    tokio::fs::write(ctx.host.checkpoint_tree(&task.id), &tree)
        .await
        .map_err(copy_error)?;
    Ok(Some(format!("tree:{tree}")))
}

/// The files as the manifest orders them (by path).
fn sorted(mut files: Vec<(String, PathBuf)>) -> Vec<(String, PathBuf)> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Every plain file under `root`, with its path from `root` (`/` between parts).
fn list(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let kind = std::fs::symlink_metadata(&path)?.file_type();
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                let parts: Vec<_> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                found.push((parts.join("/"), path));
            }
        }
    }
    Ok(found)
}

/// Copies the plain files and folders of `from` into `to`, writable by
/// their owner; links are left out (they could point anywhere).
fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for (relative, file) in list(from)? {
        let target = inside(to, &relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&file, &target)?;
        let mode = std::fs::metadata(&file)?.permissions().mode() | 0o600;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777))?;
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

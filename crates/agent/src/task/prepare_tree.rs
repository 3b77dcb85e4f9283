//! Folder inputs (`inputs: {tree:<sha256>: path}`): the manifest blob is
//! fetched and checked (a path that would leave the folder is refused before
//! anything is written), every file it lists is fetched through this
//! machine's blob store a few at a time, verified by sha256, and the folder
//! is built read-only.
//!
//! For Docker the folder is built beside the task folder (`inputs/<sha256>`)
//! from hard links to the stored blobs, which are read-only, and mounted
//! read-only at its path; for a subprocess, which runs as this user and
//! could change a linked blob, the files are copied into the task folder
//! with their write bits removed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use gantry_protocol::job::Executor;
use gantry_protocol::tree::{MAX_TREE_BYTES, TreeManifest};

use super::TaskContext;
use super::prepare::{BlobError, fetch_blob};
use crate::host::inside;

/// How many of a folder's files are fetched at once.
const PARALLEL: usize = 4;

/// Why a folder input could not be placed.
#[derive(Debug, thiserror::Error)]
pub(super) enum TreeError {
    #[error("input {path}: blob {sha256} is not a folder manifest: {reason}")]
    Manifest {
        path: String,
        sha256: String,
        reason: String,
    },
    #[error("input {path}: {source}")]
    Blob { path: String, source: BlobError },
    #[error("cannot place the input folder {path}: {source}")]
    Place {
        path: String,
        source: std::io::Error,
    },
}

/// Fetches and builds the folder `tree` for the job's `path`. Returns what
/// Docker mounts at `path` (the built folder) or `None` when the files were
/// copied into the task folder (a subprocess).
pub(super) async fn place_tree(
    ctx: &TaskContext,
    executor: Executor,
    tree: &str,
    path: &str,
    work_dir: &Path,
) -> Result<Option<PathBuf>, TreeError> {
    let blob_error = |source| TreeError::Blob {
        path: path.to_owned(),
        source,
    };
    let place = |source| TreeError::Place {
        path: path.to_owned(),
        source,
    };
    let manifest_path = fetch_blob(ctx, tree).await.map_err(blob_error)?;
    let manifest = read_manifest(&manifest_path)
        .await
        .map_err(|reason| TreeError::Manifest {
            path: path.to_owned(),
            sha256: tree.to_owned(),
            reason,
        })?;
    let shas: Vec<String> = manifest.files.iter().map(|f| f.sha256.clone()).collect();
    let fetched: Vec<PathBuf> = futures::stream::iter(shas)
        .map(move |sha256: String| async move { fetch_blob(ctx, &sha256).await })
        .buffered(PARALLEL)
        .try_collect()
        .await
        .map_err(blob_error)?;
    let target = inside(work_dir, path);
    let (root, link) = match executor {
        Executor::Docker => {
            let task_dir = work_dir.parent().unwrap_or(work_dir);
            let built = task_dir.join("inputs").join(tree);
            if built.exists() {
                // A restart at this step: build it afresh.
                make_writable(&built);
                tokio::fs::remove_dir_all(&built).await.map_err(place)?;
            }
            // The mount point must exist as a folder.
            tokio::fs::create_dir_all(&target).await.map_err(place)?;
            (built, true)
        }
        Executor::Process => (target, false),
    };
    let (root_for_build, files) = (root.clone(), manifest.files.clone());
    tokio::task::spawn_blocking(move || build(&root_for_build, &files, &fetched, link))
        .await
        .map_err(|e| place(std::io::Error::other(e)))?
        .map_err(place)?;
    Ok((executor == Executor::Docker).then_some(root))
}

/// Reads and checks a manifest blob.
async fn read_manifest(path: &Path) -> Result<TreeManifest, String> {
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| e.to_string())?
        .len();
    if size > MAX_TREE_BYTES {
        return Err(format!("it is {size} bytes, more than a manifest may be"));
    }
    let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
    TreeManifest::parse(&bytes).map_err(|e| e.to_string())
}

/// Builds the folder at `root`: each file linked (or copied) from its blob,
/// read-only, executable where the manifest says.
fn build(
    root: &Path,
    files: &[gantry_protocol::tree::TreeFile],
    blobs: &[PathBuf],
    link: bool,
) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    for (file, blob) in files.iter().zip(blobs) {
        let target = inside(root, &file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // A link shares the blob's mode, so only plain files are linked.
        if !(link && !file.executable && std::fs::hard_link(blob, &target).is_ok()) {
            std::fs::copy(blob, &target)?;
            let mode = if file.executable { 0o555 } else { 0o444 };
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Gives the owner write access again under `dir`, so it can be removed.
fn make_writable(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                make_writable(&entry.path());
            }
        }
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
}

//! The blobs a submitted job references, checked before it is queued: no
//! local paths (only `gantry task submit` can upload those), every blob on
//! the hub, and every folder manifest readable with each of its files on the
//! hub. The sha256s found are what the task's node may read (`task_blobs`).

use axum::http::StatusCode;
use gantry_protocol::JobSpec;
use gantry_protocol::job::InputRef;
use gantry_protocol::tree::{MAX_TREE_BYTES, TreeManifest};
use gantry_protocol::wire::codes;

use crate::{ApiError, Hub};

/// Every blob `spec` references, manifests' files included; refuses the job
/// with each problem named when a local path is left or a blob is missing.
pub(super) async fn referenced_blobs(hub: &Hub, spec: &JobSpec) -> Result<Vec<String>, ApiError> {
    let mut invalid = Vec::new();
    for local in spec.local_inputs() {
        invalid.push(format!(
            "inputs: {local} is a local path; `gantry task submit` uploads it, the API needs sha256 references"
        ));
    }
    let mut blobs = Vec::new();
    for file in spec.files.iter().filter_map(|f| f.blob.as_ref()) {
        blobs.push(("files", file.clone()));
    }
    let mut trees = Vec::new();
    for key in spec.inputs.keys() {
        match InputRef::of(key) {
            InputRef::Blob(sha256) => blobs.push(("inputs", sha256.to_owned())),
            InputRef::Tree(sha256) => trees.push(sha256.to_owned()),
            InputRef::Local(_) | InputRef::Unknown(_) => {}
        }
    }
    if !invalid.is_empty() {
        // 400: the document's key pattern already says local paths are not inputs here.
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_JOB,
            format!("the job was refused: {}", invalid.join("; ")),
        ));
    }
    let mut problems = Vec::new();
    // Whether every problem is a blob the hub lacks (else a manifest that
    // cannot be used as a folder is among them).
    let mut only_missing = true;
    let mut found = Vec::new();
    for (key, sha256) in blobs {
        if hub.blobs().size(&sha256).await.is_none() {
            problems.push(format!(
                "{key}: blob {sha256} is not on the hub; upload it first (PUT /v1/blobs/{sha256})"
            ));
        } else {
            found.push(sha256);
        }
    }
    for sha256 in trees {
        match read_tree(hub, &sha256).await {
            Err(TreeProblem::Missing(problem)) => {
                problems.push(format!("inputs: tree:{sha256}: {problem}"))
            }
            Err(TreeProblem::Unusable(problem)) => {
                only_missing = false;
                problems.push(format!("inputs: tree:{sha256}: {problem}"))
            }
            Ok(manifest) => {
                let mut missing = Vec::new();
                for file in &manifest.files {
                    if hub.blobs().size(&file.sha256).await.is_none() {
                        missing.push(format!("{} ({})", file.path, file.sha256));
                    }
                }
                if missing.is_empty() {
                    found.push(sha256);
                    found.extend(manifest.files.into_iter().map(|f| f.sha256));
                } else {
                    let count = missing.len();
                    missing.truncate(20);
                    problems.push(format!(
                        "inputs: tree:{sha256}: {count} of its files are not on the hub: {}{}; upload them first",
                        missing.join(", "),
                        if count > 20 { ", …" } else { "" }
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        // 422, not 400: the job is as the document says, but the hub lacks
        // what it names (a rule of the hub's state, which no schema can state).
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            if only_missing {
                codes::BLOB_MISSING
            } else {
                codes::INVALID_JOB
            },
            format!("the job was refused: {}", problems.join("; ")),
        ))
    }
}

/// Why a folder manifest cannot be used.
enum TreeProblem {
    /// The hub does not hold it.
    Missing(String),
    /// It is there but is no manifest, is too large, or names bad paths.
    Unusable(String),
}

/// Reads a folder manifest from the hub's blobs, or says why it cannot be used.
async fn read_tree(hub: &Hub, sha256: &str) -> Result<TreeManifest, TreeProblem> {
    match hub.blobs().size(sha256).await {
        None => {
            return Err(TreeProblem::Missing(format!(
                "the folder manifest is not on the hub; upload it first (PUT /v1/blobs/{sha256})"
            )));
        }
        Some(size) if size > MAX_TREE_BYTES => {
            return Err(TreeProblem::Unusable(format!(
                "the folder manifest is {size} bytes, more than the {MAX_TREE_BYTES} the hub reads"
            )));
        }
        Some(_) => {}
    }
    let bytes = tokio::fs::read(hub.blobs().path(sha256))
        .await
        .map_err(|e| TreeProblem::Unusable(format!("the folder manifest cannot be read: {e}")))?;
    TreeManifest::parse(&bytes)
        .map_err(|e| TreeProblem::Unusable(format!("the blob cannot be used as a folder: {e}")))
}

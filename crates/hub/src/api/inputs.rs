//! The blobs a submitted job references, checked before it is queued: no
//! local paths (only `gantry task submit` can upload those), every blob on
//! the hub, and every folder manifest readable with each of its files on the
//! hub. The sha256s found are what the task's node may read (`task_blobs`).
//! A submit refuses a job with any problem; `POST /v1/jobs/check` lists them.

use axum::http::StatusCode;
use gantry_protocol::JobSpec;
use gantry_protocol::job::InputRef;
use gantry_protocol::tree::{MAX_TREE_BYTES, TreeManifest};
use gantry_protocol::wire::codes;

use crate::{ApiError, Hub};

/// One problem with what a job references: its key and what is wrong.
#[derive(Debug, Clone)]
pub(super) struct InputProblem {
    /// The job's key: `inputs` or `files`.
    pub(super) key: &'static str,
    /// What is wrong and what to do.
    pub(super) message: String,
}

/// What the hub found of the blobs a job references.
#[derive(Debug, Default)]
pub(super) struct Findings {
    /// Local paths left among the inputs.
    pub(super) local: Vec<InputProblem>,
    /// Blobs and folder manifests the hub lacks, or cannot use.
    pub(super) problems: Vec<InputProblem>,
    /// Whether every problem is a blob the hub lacks (else a manifest that
    /// cannot be used as a folder is among them).
    only_missing: bool,
    /// The sha256s found: what the task's node may read.
    found: Vec<String>,
}

impl Findings {
    /// Every problem, local paths first.
    pub(super) fn all_problems(&self) -> impl Iterator<Item = &InputProblem> {
        self.local.iter().chain(&self.problems)
    }

    /// The blobs found, or the refusal a submit answers.
    fn into_blobs(self) -> Result<Vec<String>, ApiError> {
        let joined = |problems: &[InputProblem]| {
            problems
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !self.local.is_empty() {
            // 400: the document's key pattern already says local paths are not inputs here.
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_JOB,
                format!("the job was refused: {}", joined(&self.local)),
            ));
        }
        if self.problems.is_empty() {
            return Ok(self.found);
        }
        // 422, not 400: the job is as the document says, but the hub lacks
        // what it names (a rule of the hub's state, which no schema can state).
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            if self.only_missing {
                codes::BLOB_MISSING
            } else {
                codes::INVALID_JOB
            },
            format!("the job was refused: {}", joined(&self.problems)),
        ))
    }
}

/// Every blob `spec` references, manifests' files included; refuses the job
/// with each problem named when a local path is left or a blob is missing.
pub(super) async fn referenced_blobs(hub: &Hub, spec: &JobSpec) -> Result<Vec<String>, ApiError> {
    find_blobs(hub, spec).await.into_blobs()
}

/// Looks up every blob `spec` references, manifests' files included, and
/// notes each problem: what a submit refuses and `POST /v1/jobs/check` lists.
pub(super) async fn find_blobs(hub: &Hub, spec: &JobSpec) -> Findings {
    let mut findings = Findings {
        only_missing: true,
        ..Findings::default()
    };
    for local in spec.local_inputs() {
        findings.local.push(InputProblem {
            key: "inputs",
            message: format!(
                "{local} is a local path; `gantry task submit` uploads it, the API needs sha256 references"
            ),
        });
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
    let problem = |key, message| InputProblem { key, message };
    for (key, sha256) in blobs {
        if hub.blobs().size(&sha256).await.is_none() {
            findings.problems.push(problem(
                key,
                format!(
                    "blob {sha256} is not on the hub; upload it first (PUT /v1/blobs/{sha256})"
                ),
            ));
        } else {
            findings.found.push(sha256);
        }
    }
    for sha256 in trees {
        match read_tree(hub, &sha256).await {
            Err(TreeProblem::Missing(message)) => findings
                .problems
                .push(problem("inputs", format!("tree:{sha256}: {message}"))),
            Err(TreeProblem::Unusable(message)) => {
                findings.only_missing = false;
                findings
                    .problems
                    .push(problem("inputs", format!("tree:{sha256}: {message}")))
            }
            Ok(manifest) => {
                let mut missing = Vec::new();
                for file in &manifest.files {
                    if hub.blobs().size(&file.sha256).await.is_none() {
                        missing.push(format!("{} ({})", file.path, file.sha256));
                    }
                }
                if missing.is_empty() {
                    findings.found.push(sha256);
                    findings
                        .found
                        .extend(manifest.files.into_iter().map(|f| f.sha256));
                } else {
                    let count = missing.len();
                    missing.truncate(20);
                    findings.problems.push(problem(
                        "inputs",
                        format!(
                            "tree:{sha256}: {count} of its files are not on the hub: {}{}; upload them first",
                            missing.join(", "),
                            if count > 20 { ", …" } else { "" }
                        ),
                    ));
                }
            }
        }
    }
    findings
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

/// The blobs of a checkpoint a node left (`TaskEvent::Released`): its
/// manifest and every file of it, all on the hub, as a submit checks a
/// folder input; else the refusal naming what is missing or unusable.
pub(super) async fn checkpoint_blobs(hub: &Hub, checkpoint: &str) -> Result<Vec<String>, ApiError> {
    let sha256 = checkpoint
        .strip_prefix("tree:")
        .filter(|sha256| gantry_protocol::is_sha256_hex(sha256))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "checkpoint: {checkpoint:?} is not tree:<sha256> (64 lowercase hex digits)"
            ))
        })?;
    let manifest = match read_tree(hub, sha256).await {
        Ok(manifest) => manifest,
        Err(TreeProblem::Missing(message)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::BLOB_MISSING,
                format!("checkpoint: {checkpoint}: {message}"),
            ));
        }
        Err(TreeProblem::Unusable(message)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::BAD_REQUEST,
                format!("checkpoint: {checkpoint}: {message}"),
            ));
        }
    };
    let mut missing = Vec::new();
    let mut blobs = vec![sha256.to_owned()];
    for file in manifest.files {
        if hub.blobs().size(&file.sha256).await.is_none() {
            missing.push(format!("{} ({})", file.path, file.sha256));
        }
        blobs.push(file.sha256);
    }
    if !missing.is_empty() {
        let count = missing.len();
        missing.truncate(20);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::BLOB_MISSING,
            format!(
                "checkpoint: {checkpoint}: {count} of its files are not on the hub: {}{}; upload them first",
                missing.join(", "),
                if count > 20 { ", …" } else { "" }
            ),
        ));
    }
    Ok(blobs)
}

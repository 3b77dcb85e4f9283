//! Local inputs of `gantry task submit`: a job's `inputs` keys that name a
//! file or folder on this disk (`./dataset`, `../model.bin`, `/data/x`,
//! `~/x`), resolved relative to the job file's folder, uploaded, and
//! rewritten to the hub's forms before the job is sent: a file becomes its
//! sha256, a folder `tree:<sha256>` of a manifest blob listing each file.
//!
//! Files are hashed and uploaded a few at a time, each only if the hub does
//! not hold it yet, under one progress bar for the bytes of everything named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use gantry_client::{HubClient, hash_file};
use gantry_protocol::JobSpec;
use gantry_protocol::job::TREE_PREFIX;
use gantry_protocol::tree::{TreeFile, TreeManifest};
use gantry_protocol::units::ByteSize;

use crate::progress::Bar;

/// How many files are hashed or uploaded at once.
const PARALLEL: usize = 4;

/// One file to send: where it is here, and its place in a folder input.
#[derive(Debug, Clone)]
struct Local {
    path: PathBuf,
    relative: String,
    executable: bool,
}

/// A local input, walked: one file, or a folder's files.
#[derive(Debug)]
enum Walked {
    File(PathBuf),
    Folder(Vec<Local>),
}

/// Uploads the job's local inputs and returns the job with hub references.
pub async fn upload(client: &HubClient, mut spec: JobSpec, base: &Path) -> anyhow::Result<JobSpec> {
    let locals: Vec<String> = spec.local_inputs().into_iter().map(str::to_owned).collect();
    if locals.is_empty() {
        return Ok(spec);
    }
    let mut walked = Vec::new();
    for key in &locals {
        let path = resolve(key, base);
        let found = walk_input(&path).with_context(|| {
            format!(
                "inputs: {key}: cannot read {} (local paths are relative to the job file's folder)",
                path.display()
            )
        })?;
        walked.push((key.clone(), found));
    }
    // Hash every file first: the total is what the progress bar counts.
    let mut all: Vec<PathBuf> = Vec::new();
    for (_, found) in &walked {
        match found {
            Walked::File(path) => all.push(path.clone()),
            Walked::Folder(files) => all.extend(files.iter().map(|f| f.path.clone())),
        }
    }
    let hashed: Vec<(String, u64)> = futures::stream::iter(all.iter())
        .map(|path| hash_file(path))
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    let hashes: BTreeMap<&Path, (String, u64)> =
        all.iter().map(PathBuf::as_path).zip(hashed).collect();
    let total: u64 = hashes.values().map(|(_, size)| size).sum();
    let bar = Bar::new("uploading inputs", total);
    let mut unique: BTreeMap<&str, (&Path, u64)> = BTreeMap::new();
    for (path, (sha256, size)) in &hashes {
        unique.entry(sha256.as_str()).or_insert((path, *size));
    }
    let outcomes: Vec<gantry_client::Uploaded> = futures::stream::iter(unique.iter())
        .map(|(sha256, (path, size))| {
            let progress = bar.progress();
            let bar = &bar;
            async move {
                let uploaded = client
                    .upload_known(path, sha256, *size, progress)
                    .await
                    .with_context(|| format!("cannot upload {}", path.display()))?;
                if uploaded.skipped {
                    bar.add(*size);
                }
                anyhow::Ok(uploaded)
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    drop(bar);
    let skipped: Vec<_> = outcomes.iter().filter(|u| u.skipped).collect();
    eprintln!(
        "inputs: {} files ({}) sent, {} ({}) already on the hub",
        outcomes.len() - skipped.len(),
        ByteSize(outcomes.iter().filter(|u| !u.skipped).map(|u| u.size).sum()),
        skipped.len(),
        ByteSize(skipped.iter().map(|u| u.size).sum()),
    );
    let mut rewritten: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (key, found) in walked {
        let place = spec
            .inputs
            .remove(&key)
            .expect("the key came from this map");
        let reference = match found {
            Walked::File(path) => hashes[path.as_path()].0.clone(),
            Walked::Folder(files) => {
                let manifest = TreeManifest::new(
                    files
                        .iter()
                        .map(|f| {
                            let (sha256, size) = hashes[f.path.as_path()].clone();
                            TreeFile {
                                path: f.relative.clone(),
                                sha256,
                                size,
                                executable: f.executable,
                            }
                        })
                        .collect(),
                );
                format!("{TREE_PREFIX}{}", put_manifest(client, &manifest).await?)
            }
        };
        if let Some((other, _)) = rewritten.get(&reference) {
            bail!(
                "inputs: {key} and {other} have the same content; a job places each blob once, so keep one (or put both in a folder)"
            );
        }
        rewritten.insert(reference, (key, place));
    }
    for (reference, (_, place)) in rewritten {
        spec.inputs.insert(reference, place);
    }
    Ok(spec)
}

/// Stores a folder's manifest as a blob; returns its sha256.
async fn put_manifest(client: &HubClient, manifest: &TreeManifest) -> anyhow::Result<String> {
    use sha2::Digest;
    let bytes = manifest.to_bytes();
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    if client.blob_size(&sha256).await?.is_none() {
        client
            .put_blob(&sha256, bytes.into())
            .await
            .context("cannot upload the folder's manifest")?;
    }
    Ok(sha256)
}

/// The path a local key names: `~/` is the home folder, a relative path is
/// taken from the job file's folder.
fn resolve(key: &str, base: &Path) -> PathBuf {
    if let Some(rest) = key.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    base.join(key)
}

/// A file, or every file under a folder (symbolic links followed, sorted).
fn walk_input(path: &Path) -> std::io::Result<Walked> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_file() {
        return Ok(Walked::File(path.to_owned()));
    }
    let mut files = Vec::new();
    walk_folder(path, "", &mut files)?;
    Ok(Walked::Folder(files))
}

fn walk_folder(dir: &Path, prefix: &str, files: &mut Vec<Local>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(std::io::Error::other(format!(
                "{} has a name that is not UTF-8; rename it",
                entry.path().display()
            )));
        };
        let relative = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let metadata = std::fs::metadata(entry.path())?;
        if metadata.is_dir() {
            walk_folder(&entry.path(), &relative, files)?;
        } else if metadata.is_file() {
            files.push(Local {
                path: entry.path(),
                relative,
                executable: metadata.permissions().mode() & 0o111 != 0,
            });
        }
    }
    Ok(())
}

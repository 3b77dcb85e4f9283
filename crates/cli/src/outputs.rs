//! `gantry task outputs` and `gantry task download`: a task's results,
//! listed with where each is kept, and brought here verified by sha256 —
//! from the hub's blobs, or through the hub from the node that keeps them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use gantry_protocol::job::relative_path_problem;
use gantry_protocol::units::ByteSize;
use gantry_protocol::wire::{ListedOutput, OutputStore};

use crate::Remote;
use crate::progress::Bar;

/// Where each output is, in a table or as JSON.
pub async fn list(id: &str, json: bool, remote: &Remote) -> anyhow::Result<ExitCode> {
    let list = crate::task::client(remote)?.outputs(id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.outputs.is_empty() {
        eprintln!("task {id} has no outputs (yet)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<40} {:>10}  {:<64}  WHERE", "PATH", "SIZE", "SHA256");
    for output in &list.outputs {
        println!(
            "{:<40} {:>10}  {}  {}",
            output.path,
            ByteSize(output.size).to_string(),
            output.sha256,
            place(output)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `hub`, or `node NAME` (with `, offline` when it is).
fn place(output: &ListedOutput) -> String {
    match output.stored {
        OutputStore::Hub => "hub".into(),
        OutputStore::Node => format!(
            "node {}{}",
            output.node.as_deref().unwrap_or("?"),
            if output.node_online == Some(false) {
                " (offline)"
            } else {
                ""
            }
        ),
    }
}

/// Downloads the named outputs (all when none are named) into `out`
/// (default `./<task id>/`), each verified; a file already there with the
/// right sha256 is kept. Exit 1 when any could not be brought.
pub async fn download(
    id: &str,
    paths: &[String],
    out: Option<PathBuf>,
    remote: &Remote,
) -> anyhow::Result<ExitCode> {
    let client = crate::task::client(remote)?;
    let list = client.outputs(id).await?;
    let out = out.unwrap_or_else(|| PathBuf::from(id));
    let mut wanted: Vec<&ListedOutput> = Vec::new();
    let mut failed = false;
    if paths.is_empty() {
        wanted.extend(&list.outputs);
    } else {
        for path in paths {
            let prefix = format!("{}/", path.trim_end_matches('/'));
            let matched: Vec<_> = list
                .outputs
                .iter()
                .filter(|o| &o.path == path || o.path.starts_with(&prefix))
                .collect();
            if matched.is_empty() {
                eprintln!("error: task {id} has no output {path}; see gantry task outputs {id}");
                failed = true;
            }
            wanted.extend(matched);
        }
    }
    for output in wanted {
        let Some(dest) = destination(&out, &output.path) else {
            eprintln!(
                "error: output {} would be written outside {}; refused",
                output.path,
                out.display()
            );
            failed = true;
            continue;
        };
        if same_file(&dest, &output.sha256).await {
            eprintln!("{}: already here", dest.display());
            continue;
        }
        let bar = Bar::new(&output.path, output.size);
        let result = client
            .download_output(id, &output.path, &output.sha256, &dest, bar.progress())
            .await;
        drop(bar);
        match result {
            Ok(_) => println!("{}  {}", output.sha256, dest.display()),
            Err(error) => {
                eprintln!("error: {}: {error}", output.path);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Where an output goes under `out`, or `None` when its path would leave it.
fn destination(out: &Path, path: &str) -> Option<PathBuf> {
    if relative_path_problem(path).is_some() || path.contains('\\') {
        return None;
    }
    Some(out.join(path))
}

/// Whether `dest` exists with this sha256 already.
async fn same_file(dest: &Path, sha256: &str) -> bool {
    if !dest.is_file() {
        return false;
    }
    gantry_client::hash_file(dest)
        .await
        .context("hash")
        .is_ok_and(|(found, _)| found == sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_refused() {
        let out = Path::new("/tmp/x");
        assert_eq!(destination(out, "a/b.txt"), Some(out.join("a/b.txt")));
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", ""] {
            assert_eq!(destination(out, bad), None, "{bad}");
        }
    }
}

//! Serving outputs kept on this node (WITH_LOCAL_STORAGE) to downloads at
//! the hub: a long-poll next to `next` waits for fetch requests, and each
//! request is answered by streaming the file from this task's results
//! folder (`PUT /v1/agent/fetches/{id}`, piped by the hub into the waiting
//! download) or by saying why it cannot be (`POST …/fail`). A path that
//! leaves the results folder, by `..` or through a link, is refused.
//!
//! The loop and each transfer are tracked by the agent's tracker and end
//! when the agent stops.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_protocol::job::relative_path_problem;
use gantry_protocol::wire::FetchRequest;

use super::Agent;
use crate::backoff::Backoff;
use crate::host::inside;

impl Agent {
    /// Long-polls the hub for outputs wanted from this node and sends each.
    pub(super) async fn serve_fetches(&self) {
        let stop = self.inner.ctx.stop.clone();
        let mut backoff = Backoff::default();
        loop {
            let reply = tokio::select! {
                reply = self.inner.hub.fetches(Duration::from_secs(30)) => reply,
                _ = stop.cancelled() => return,
            };
            let pause = match reply {
                Ok(list) => {
                    for request in list.fetches {
                        let agent = self.clone();
                        self.inner.tracker.spawn(async move {
                            let stop = agent.inner.ctx.stop.clone();
                            tokio::select! {
                                _ = agent.send_output(request) => {}
                                _ = stop.cancelled() => {}
                            }
                        });
                    }
                    Duration::ZERO
                }
                // An old hub without the route, or the network: try again later.
                Err(_) => backoff.wait(),
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Answers one fetch request: the file's bytes, or why not.
    async fn send_output(&self, request: FetchRequest) {
        let hub = &self.inner.hub;
        let results = self.inner.ctx.host.results(&request.task);
        match kept_file(&results, &request.path) {
            Ok(file) => {
                tracing::info!(task = %request.task, path = %request.path, "sending a kept output to the hub");
                if let Err(error) = hub.send_fetch(&request.id, &file).await {
                    tracing::info!(%error, task = %request.task, path = %request.path, "a kept output was not sent whole");
                }
            }
            Err(reason) => {
                if let Err(error) = hub.fail_fetch(&request.id, &reason).await {
                    tracing::warn!(%error, "cannot tell the hub why an output cannot be sent");
                }
            }
        }
    }
}

/// The kept file for `path` under `results`, or why it cannot be sent.
fn kept_file(results: &Path, path: &str) -> Result<PathBuf, String> {
    if let Some(problem) = relative_path_problem(path) {
        return Err(format!(
            "the path {problem}; only files in the task's results are sent"
        ));
    }
    let file = inside(results, path);
    let missing = |e: std::io::Error| {
        format!(
            "{path} is no longer in this node's storage ({}: {e}); it may have been deleted",
            file.display()
        )
    };
    let real = file.canonicalize().map_err(missing)?;
    let root = results.canonicalize().map_err(missing)?;
    if !real.starts_with(&root) {
        return Err(format!(
            "{path} leads outside the task's results folder; it is not sent"
        ));
    }
    if !real.is_file() {
        return Err(format!("{path} is not a file in this node's storage"));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_results_are_sent() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        std::fs::create_dir_all(results.join("out")).unwrap();
        std::fs::write(results.join("out/a.txt"), b"a").unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), results.join("out/link")).unwrap();
        assert!(kept_file(&results, "out/a.txt").is_ok());
        assert!(
            kept_file(&results, "../secret")
                .unwrap_err()
                .contains("leaves")
        );
        assert!(
            kept_file(&results, "out/link")
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            kept_file(&results, "out/gone")
                .unwrap_err()
                .contains("no longer")
        );
    }
}

//! Checkpoints in the budget: `checkpoints/<task>/` in the host dir, the
//! copy a released task's `checkpoint:` folder left here (with
//! `<task>.tree`, the sha256 of its manifest on the hub), so that the task,
//! coming back to this node, starts from it without fetching it.
//!
//! Such a copy is worth keeping only while the task may still run here:
//!
//! - a task this node holds (its record is in `tasks/<task>/task.json`)
//!   needs it: it stays ([`Stay::InUse`]), as any held task's things do;
//! - a task that ended, wherever it ran, needs it no more: the hub, asked
//!   with the node's token, shows a node the tasks it holds and those it
//!   gave back, so it says when one ended;
//! - a task not ended and not held here (queued again after its release,
//!   or running on another node, which may give it back too) may come back:
//!   its copy stays ([`Stay::MayReturn`]) for [`AWAITS_RETURN_MS`] after
//!   its release (the `.tree` file's time). The same holds when the hub
//!   cannot be asked (`gantry agent gc` without the node's server and
//!   token, the desktop's Storage screen) or does not show the task (a hub
//!   before it showed a node the tasks it gave back).
//!
//! After that, or without a `.tree` (the upload at the release failed, so
//! the hub never had it), the copy may go, least recently used like the
//! rest: the hub keeps the task's checkpoint, and a task that comes back
//! later fetches it from there.

use gantry_client::{ClientError, HubClient};

use super::inventory::Stay;
use crate::host::HostDir;

/// How long a released task's checkpoint awaits the task's return when the
/// hub does not say the task ended: a week.
pub const AWAITS_RETURN_MS: i64 = 7 * 24 * 3600 * 1000;

/// Why the checkpoint of `task` (not held by this node) must stay, if it must.
pub(super) async fn stay(host: &HostDir, hub: Option<&HubClient>, task: &str) -> Option<Stay> {
    if let Some(hub) = hub {
        match hub.task(task).await {
            Ok(shown) if shown.state.is_terminal() => return None,
            Ok(_) | Err(ClientError::Api { status: 404, .. }) => {}
            Err(error) => {
                tracing::debug!(%error, task, "disk budget: the hub cannot say whether the checkpoint's task ended");
            }
        }
    }
    awaits_return(host, task, crate::clock::now_ms()).then_some(Stay::MayReturn)
}

/// Whether `task` was released (its checkpoint reached the hub) less than
/// [`AWAITS_RETURN_MS`] before `now`.
fn awaits_return(host: &HostDir, task: &str, now: i64) -> bool {
    let Ok(meta) = std::fs::metadata(host.checkpoint_tree(task)) else {
        return false;
    };
    let released = meta
        .modified()
        .ok()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    now.saturating_sub(released) < AWAITS_RETURN_MS
}

/// Removes the `.tree` beside the checkpoint folder `folder`, before the
/// folder goes (a folder left without one is never placed from).
pub(super) fn remove_tree(folder: &std::path::Path) -> std::io::Result<()> {
    if let Some(name) = folder.file_name() {
        let mut tree = name.to_owned();
        tree.push(".tree");
        match std::fs::remove_file(folder.with_file_name(tree)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_checkpoint_awaits_its_task_for_a_week_then_may_go() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostDir::open(dir.path()).unwrap();
        let now = crate::clock::now_ms();
        assert!(
            !awaits_return(&host, "t-1", now),
            "no .tree: the hub never had it"
        );
        std::fs::create_dir_all(host.checkpoint("t-1")).unwrap();
        std::fs::write(host.checkpoint_tree("t-1"), "ab").unwrap();
        assert!(awaits_return(&host, "t-1", now));
        assert!(!awaits_return(&host, "t-1", now + AWAITS_RETURN_MS + 1000));
        remove_tree(&host.checkpoint("t-1")).unwrap();
        assert!(!host.checkpoint_tree("t-1").exists());
        remove_tree(&host.checkpoint("t-1")).unwrap();
    }
}

//! The host dir: everything the agent keeps on this machine. Its layout
//! lives here; the verified blob store in it is `blobs.rs`, the embedded
//! hub's address record `local_hub.rs`.
//!
//! ```text
//! <host dir>/
//!   logs/                          the agent's own logs, one file a day
//!   storage/blobs/ab/cde/<sha256>  content-addressed, verified, shared by all tasks
//!   storage/results/<task id>/     each task's outputs, as hard links into blobs/
//!   tasks/<task id>/work/          the task's folder (mounted at /task in its container)
//!   tasks/<task id>/logs/log_<timestamp>.txt   the task's output, the spool shipped to the hub
//!   tasks/<task id>/logs/log_<timestamp>.streams   its stdout/stderr switches (see spool.rs)
//!   tasks/<task id>/task.json      the task and its step while held (see record.rs)
//!   checkpoints/<task id>/         a released task's `checkpoint:` folder as it left it
//!   checkpoints/<task id>.tree     the sha256 of that folder's manifest (uploaded to the hub)
//!   tmp/                           downloads in progress
//!   agent.sock                     the local control socket (0600)
//!   agent.id                       labels this agent's containers (gantry.agent)
//!   disk.json                      what the disk budget remembers: images Gantry pulled, evictions (see disk/)
//!   disk.lock                      held while disk.json is read and written
//!   local-hub.json                 local mode only: the embedded hub's address and an admin token (0600)
//!   hub/                           local mode only: the embedded hub's database and blobs
//! ```

mod blobs;
mod local_hub;

use std::io;
use std::path::{Path, PathBuf};

pub use blobs::hash_file;
pub use local_hub::LocalHub;

// The layout's names, from the root with `/`: the methods below and
// [`HostDir::protected`] read them, so the layout is written down once.
const LOGS: &str = "logs";
const STORAGE: &str = "storage";
const BLOBS: &str = "storage/blobs";
const RESULTS: &str = "storage/results";
const TASKS: &str = "tasks";
const CHECKPOINTS: &str = "checkpoints";
const TMP: &str = "tmp";
const HUB: &str = "hub";
const SOCKET: &str = "agent.sock";
const AGENT_ID: &str = "agent.id";
const LOCAL_HUB: &str = "local-hub.json";
const DISK_LEDGER: &str = "disk.json";
const DISK_LOCK: &str = "disk.lock";

/// What a place of the host dir's layout is, for a file browser that must
/// leave the agent's own things alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// A folder of the layout: it stays; what is inside may go.
    Folder,
    /// A folder of the layout whose entries are named for tasks (`tasks/`,
    /// `storage/results/`): a task's entry stays while the task is held.
    PerTask,
    /// A folder kept whole: the embedded hub's records (local mode).
    Whole,
    /// One of the agent's own files.
    File,
}

/// A place of the host dir's layout that the agent needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protected {
    /// Its path from the root, with `/` (`storage/results`).
    pub path: &'static str,
    /// What may be done with it and inside it.
    pub protection: Protection,
}

/// The agent's folder on this machine.
#[derive(Debug, Clone)]
pub struct HostDir {
    root: PathBuf,
}

impl HostDir {
    /// Opens `root`, creating its folders (private to this user) if needed.
    /// A relative path is taken from the current folder and kept absolute:
    /// Docker mounts only absolute paths.
    pub fn open(root: &Path) -> io::Result<HostDir> {
        let host = HostDir {
            root: std::path::absolute(root)?,
        };
        for dir in [
            host.root.clone(),
            host.logs(),
            host.blobs(),
            host.results_root(),
            host.tasks_root(),
            host.tmp(),
        ] {
            create_private_dir(&dir)?;
        }
        Ok(host)
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout's folders and files that the agent needs, each with what
    /// may be done inside it: a file browser on the host dir shows them and
    /// never deletes them (the desktop app's Storage screen).
    pub fn protected() -> &'static [Protected] {
        use Protection::{File, Folder, PerTask, Whole};
        const LAYOUT: [Protected; 12] = [
            Protected {
                path: TASKS,
                protection: PerTask,
            },
            Protected {
                path: STORAGE,
                protection: Folder,
            },
            Protected {
                path: BLOBS,
                protection: Folder,
            },
            Protected {
                path: RESULTS,
                protection: PerTask,
            },
            Protected {
                path: LOGS,
                protection: Folder,
            },
            Protected {
                path: TMP,
                protection: Folder,
            },
            Protected {
                path: HUB,
                protection: Whole,
            },
            Protected {
                path: SOCKET,
                protection: File,
            },
            Protected {
                path: AGENT_ID,
                protection: File,
            },
            Protected {
                path: LOCAL_HUB,
                protection: File,
            },
            Protected {
                path: DISK_LEDGER,
                protection: File,
            },
            Protected {
                path: DISK_LOCK,
                protection: File,
            },
        ];
        &LAYOUT
    }

    /// Where the hub embedded in the desktop app (local mode) keeps its
    /// database and blobs, under the host dir `root`.
    pub fn hub_dir(root: &Path) -> PathBuf {
        inside(root, HUB)
    }

    /// The agent's own logs.
    pub fn logs(&self) -> PathBuf {
        inside(&self.root, LOGS)
    }

    pub(super) fn blobs(&self) -> PathBuf {
        inside(&self.root, BLOBS)
    }

    fn results_root(&self) -> PathBuf {
        inside(&self.root, RESULTS)
    }

    fn tasks_root(&self) -> PathBuf {
        inside(&self.root, TASKS)
    }

    /// Downloads in progress.
    pub fn tmp(&self) -> PathBuf {
        inside(&self.root, TMP)
    }

    /// This host dir's agent id, made on first use: it labels the
    /// containers the agent makes, so it sweeps only its own.
    pub fn agent_id(&self) -> io::Result<String> {
        let path = inside(&self.root, AGENT_ID);
        match std::fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
            Ok(_) => Err(io::Error::other(format!(
                "{} is empty; delete it",
                path.display()
            ))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let id = uuid::Uuid::now_v7().to_string();
                std::fs::write(&path, format!("{id}\n"))?;
                Ok(id)
            }
            Err(error) => Err(error),
        }
    }

    /// What the disk budget remembers ([`crate::disk`]), and its lock.
    pub fn disk_ledger(&self) -> (PathBuf, PathBuf) {
        (
            inside(&self.root, DISK_LEDGER),
            inside(&self.root, DISK_LOCK),
        )
    }

    /// Kept results, one folder per task.
    pub fn results_folder(&self) -> PathBuf {
        self.results_root()
    }

    /// Tasks' folders, one per task.
    pub fn tasks_folder(&self) -> PathBuf {
        self.tasks_root()
    }

    /// Released tasks' checkpoint folders, each with its `.tree`.
    pub fn checkpoints_folder(&self) -> PathBuf {
        inside(&self.root, CHECKPOINTS)
    }

    /// The blob store.
    pub fn blobs_folder(&self) -> PathBuf {
        self.blobs()
    }

    /// The local control socket.
    pub fn socket(&self) -> PathBuf {
        inside(&self.root, SOCKET)
    }

    /// A task's folder.
    pub fn task_dir(&self, task_id: &str) -> PathBuf {
        self.tasks_root().join(safe_name(task_id))
    }

    /// Where a task's command runs.
    pub fn work_dir(&self, task_id: &str) -> PathBuf {
        self.task_dir(task_id).join("work")
    }

    /// Where a released task's checkpoint folder is kept, for its next run here.
    pub fn checkpoint(&self, task_id: &str) -> PathBuf {
        inside(&self.root, CHECKPOINTS).join(safe_name(task_id))
    }

    /// Where the sha256 of that folder's manifest is kept.
    pub fn checkpoint_tree(&self, task_id: &str) -> PathBuf {
        inside(&self.root, CHECKPOINTS).join(format!("{}.tree", safe_name(task_id)))
    }

    /// Where a task's outputs are kept.
    pub fn results(&self, task_id: &str) -> PathBuf {
        self.results_root().join(safe_name(task_id))
    }
}

/// Task ids come from the hub; a path made of one must stay one folder deep.
fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Creates `dir` private to its owner when new: tasks' files may be private.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Joins a job-file path (checked relative, no `..`) onto `base`.
pub fn inside(base: &Path, relative: &str) -> PathBuf {
    let mut path = base.to_owned();
    for part in relative.split('/').filter(|p| !p.is_empty() && *p != ".") {
        path.push(part);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protected_layout_is_what_the_agent_makes_and_uses() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostDir::open(dir.path()).unwrap();
        host.agent_id().unwrap();
        let named = [
            host.logs(),
            host.tmp(),
            host.socket(),
            host.tasks_root(),
            host.results_root(),
            host.blobs(),
            HostDir::hub_dir(host.root()),
            LocalHub::path(host.root()),
            host.disk_ledger().0,
            host.disk_ledger().1,
        ];
        for part in HostDir::protected() {
            let path = host.root().join(part.path);
            match part.protection {
                Protection::Whole => assert_eq!(path, HostDir::hub_dir(host.root())),
                Protection::Folder | Protection::PerTask => assert!(path.is_dir(), "{path:?}"),
                Protection::File => {}
            }
            // Each is a path the agent names, the folder above blobs and
            // results, or a file it made (agent.id).
            assert!(
                named.contains(&path) || part.path == STORAGE || path.is_file(),
                "{path:?} is not one of the layout's"
            );
        }
        assert!(
            HostDir::protected()
                .iter()
                .any(|p| p.path == "agent.id" && p.protection == Protection::File)
        );
    }

    #[test]
    fn ids_stay_one_folder() {
        let host = HostDir {
            root: PathBuf::from("/h"),
        };
        assert_eq!(
            host.task_dir("../../etc"),
            PathBuf::from("/h/tasks/______etc")
        );
        assert_eq!(
            inside(Path::new("/w"), "./a//b/c.txt"),
            PathBuf::from("/w/a/b/c.txt")
        );
    }
}

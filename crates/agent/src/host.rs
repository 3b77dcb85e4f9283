//! The host dir: everything the agent keeps on this machine.
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
//!   tmp/                           downloads in progress
//!   agent.sock                     the local control socket (0600)
//!   agent.id                       labels this agent's containers (gantry.agent)
//!   local-hub.json                 local mode only: the embedded hub's address and an admin token (0600)
//!   hub/                           local mode only: the embedded hub's database and blobs
//! ```

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use gantry_protocol::is_sha256_hex;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

// The layout's names, from the root with `/`: the methods below and
// [`HostDir::protected`] read them, so the layout is written down once.
const LOGS: &str = "logs";
const STORAGE: &str = "storage";
const BLOBS: &str = "storage/blobs";
const RESULTS: &str = "storage/results";
const TASKS: &str = "tasks";
const TMP: &str = "tmp";
const HUB: &str = "hub";
const SOCKET: &str = "agent.sock";
const AGENT_ID: &str = "agent.id";
const LOCAL_HUB: &str = "local-hub.json";

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
        const LAYOUT: [Protected; 10] = [
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

    fn blobs(&self) -> PathBuf {
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

    /// Where a task's outputs are kept.
    pub fn results(&self, task_id: &str) -> PathBuf {
        self.results_root().join(safe_name(task_id))
    }

    /// The path of the blob `sha256`: two hex digits, three, then the hash.
    pub fn blob(&self, sha256: &str) -> PathBuf {
        self.blobs()
            .join(&sha256[..2])
            .join(&sha256[2..5])
            .join(sha256)
    }

    /// Whether the blob is stored here.
    pub fn has_blob(&self, sha256: &str) -> bool {
        is_sha256_hex(sha256) && self.blob(sha256).is_file()
    }

    /// Stores a stream as a blob, verifying it hashes to `sha256`.
    pub async fn store_blob<S, E>(&self, sha256: &str, mut stream: S) -> io::Result<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.tmp().join(uuid::Uuid::now_v7().to_string());
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let written = async {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| io::Error::other(format!("the download broke off: {e}")))?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.sync_all().await
        }
        .await;
        drop(file);
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(error);
        }
        let actual = hex::encode(hasher.finalize());
        if actual != sha256 {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the bytes received hash to {actual}, not to {sha256}"),
            ));
        }
        self.adopt_blob(&tmp, sha256).await?;
        Ok(size)
    }

    /// Moves a verified file into the store, read-only; a copy already there wins.
    async fn adopt_blob(&self, file: &Path, sha256: &str) -> io::Result<()> {
        let target = self.blob(sha256);
        if target.is_file() {
            let _ = tokio::fs::remove_file(file).await;
            return Ok(());
        }
        tokio::fs::create_dir_all(target.parent().expect("blob paths have parents")).await?;
        set_read_only(file)?;
        tokio::fs::rename(file, &target).await
    }

    /// Keeps a task's output file: hashes it, stores a copy as a blob (once
    /// per content), and hard-links that blob under the task's results, so a
    /// result costs its space once however often it is kept. Returns its
    /// sha256 and size.
    pub async fn keep_output(
        &self,
        task_id: &str,
        file: &Path,
        relative: &str,
    ) -> io::Result<(String, u64)> {
        let (sha256, size) = hash_file(file).await?;
        if !self.blob(&sha256).is_file() {
            // A copy, not a link: the blob must not change if the task's file does.
            let staged = self.tmp().join(uuid::Uuid::now_v7().to_string());
            tokio::fs::copy(file, &staged).await?;
            self.adopt_blob(&staged, &sha256).await?;
        }
        let shown = self.results(task_id).join(relative);
        if let Some(parent) = shown.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let _ = tokio::fs::remove_file(&shown).await;
        if tokio::fs::hard_link(self.blob(&sha256), &shown)
            .await
            .is_err()
        {
            tokio::fs::copy(self.blob(&sha256), &shown).await?;
        }
        Ok((sha256, size))
    }
}

/// The sha256 and size of a file, read in blocks.
pub async fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut file, &mut hasher)?;
        Ok((hex::encode(hasher.finalize()), size))
    })
    .await
    .map_err(io::Error::other)?
}

fn set_read_only(path: &Path) -> io::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(path, permissions)
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

/// Where the hub embedded in the desktop app (local mode) answers, and an
/// admin token for it, so that `gantry task …` on this machine reaches it
/// with no `--server`. Written by the app at each start, readable only by its
/// owner, removed when the app stops.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct LocalHub {
    /// The hub's address, on loopback.
    pub server: String,
    /// An admin token of that hub.
    pub admin_token: String,
}

impl std::fmt::Debug for LocalHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHub")
            .field("server", &self.server)
            .field("admin_token", &"***")
            .finish()
    }
}

impl LocalHub {
    /// The file under a host dir.
    pub fn path(host_dir: &Path) -> PathBuf {
        inside(host_dir, LOCAL_HUB)
    }

    /// Writes the file (0600), replacing it whole.
    pub fn write(&self, host_dir: &Path) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = LocalHub::path(host_dir);
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(io::Error::other)?)?;
        file.sync_data()?;
        std::fs::rename(&tmp, &path)
    }

    /// Reads the file; `None` when there is none (no local hub runs).
    pub fn read(host_dir: &Path) -> io::Result<Option<LocalHub>> {
        match std::fs::read(LocalHub::path(host_dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Removes the file, if present.
    pub fn remove(host_dir: &Path) {
        let path = LocalHub::path(host_dir);
        if let Err(error) = std::fs::remove_file(&path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %path.display(), "cannot remove the local hub's address file");
        }
    }
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

    #[tokio::test]
    async fn blobs_are_verified_and_outputs_linked() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostDir::open(dir.path()).unwrap();
        let data = Bytes::from_static(b"hello");
        let sha = hex::encode(Sha256::digest(&data));
        let stream = futures::stream::iter([Ok::<_, io::Error>(data.clone())]);
        assert_eq!(host.store_blob(&sha, stream).await.unwrap(), 5);
        assert!(host.has_blob(&sha));
        assert!(
            host.blob(&sha).starts_with(
                dir.path()
                    .join("storage/blobs")
                    .join(&sha[..2])
                    .join(&sha[2..5])
            )
        );
        let wrong = futures::stream::iter([Ok::<_, io::Error>(Bytes::from_static(b"other"))]);
        let error = host.store_blob(&"0".repeat(64), wrong).await.unwrap_err();
        assert!(error.to_string().contains("hash to"), "{error}");
        assert!(!host.has_blob(&"0".repeat(64)));

        let work = host.work_dir("t1");
        std::fs::create_dir_all(work.join("out")).unwrap();
        std::fs::write(work.join("out/model.bin"), b"hello").unwrap();
        let (kept, size) = host
            .keep_output("t1", &work.join("out/model.bin"), "out/model.bin")
            .await
            .unwrap();
        assert_eq!((kept.as_str(), size), (sha.as_str(), 5));
        assert_eq!(
            std::fs::read(host.results("t1").join("out/model.bin")).unwrap(),
            b"hello"
        );
        // The task folder can go; the result stays.
        std::fs::remove_dir_all(host.task_dir("t1")).unwrap();
        assert_eq!(
            std::fs::read(host.results("t1").join("out/model.bin")).unwrap(),
            b"hello"
        );
    }

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

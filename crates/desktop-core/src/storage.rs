//! The Storage screen's view of the host dir: folders listed with the size
//! of everything inside, and deletion of what is safe to delete.
//!
//! Paths come from the webview, so they are treated as hostile: only
//! relative paths of plain components are taken, and no component on the
//! way may be a symbolic link, so nothing outside the host dir can be
//! listed, opened or deleted. A link inside is shown as a file of its own
//! size and deleting it removes the link, never its target.
//!
//! What must never be deleted (the layout's folders, the agent's own files,
//! the embedded hub's records, a held task's folders) is read from the
//! agent's [`HostDir::protected`], so the layout is written down once.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use gantry_agent::host::{HostDir, Protection};

use crate::view::{StorageEntry, StorageListing, UiError};

/// Why a storage request was refused.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The path leaves the storage folder or goes through a link.
    #[error("{0} is not inside the storage folder")]
    Outside(String),
    /// Nothing there.
    #[error("{0} does not exist (it may have been deleted meanwhile)")]
    Missing(String),
    /// The agent needs it.
    #[error("{0}")]
    Protected(String),
    /// The file system said no.
    #[error("cannot read or change {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: io::Error,
    },
}

impl StorageError {
    /// The stable code the UI receives.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::Outside(_) => "outside",
            StorageError::Missing(_) => "missing",
            StorageError::Protected(_) => "protected",
            StorageError::Io { .. } => "io",
        }
    }
}

impl From<StorageError> for UiError {
    fn from(error: StorageError) -> UiError {
        UiError::new(error.code(), error.to_string())
    }
}

/// The host dir as the Storage screen sees it.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    /// Tasks held now: their folders and results are not deleted under them.
    held: HashSet<String>,
}

impl Storage {
    /// The storage folder `root`, with the ids of the tasks held now.
    pub fn new(root: PathBuf, held: HashSet<String>) -> Storage {
        Storage { root, held }
    }

    /// The full path of `relative`, checked to be inside the root without
    /// passing through a link. `""` is the root itself.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, StorageError> {
        let outside = || StorageError::Outside(relative.to_owned());
        let mut path = self.root.clone();
        for component in Path::new(relative).components() {
            match component {
                Component::Normal(part) => {
                    // Every folder on the way must be a real folder: a link
                    // could lead anywhere.
                    if path != self.root
                        && fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
                    {
                        return Err(outside());
                    }
                    path.push(part);
                }
                Component::CurDir => {}
                _ => return Err(outside()),
            }
        }
        Ok(path)
    }

    /// The entries of the folder `relative`, largest first.
    pub fn list(&self, relative: &str) -> Result<StorageListing, StorageError> {
        let relative = normalize(relative);
        let dir = self.resolve(&relative)?;
        let io = |source| StorageError::Io {
            path: relative.clone(),
            source,
        };
        let meta = fs::symlink_metadata(&dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::Missing(relative.clone()),
            _ => io(e),
        })?;
        if !meta.is_dir() {
            return Err(StorageError::Outside(relative.clone()));
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            let (size_bytes, modified_ms, files) = if meta.is_dir() {
                measure(&entry.path())
            } else {
                (meta.len(), modified_ms(&meta), 0)
            };
            entries.push(StorageEntry {
                deletable: self.protection(&path).is_none(),
                dir: meta.is_dir(),
                name,
                path,
                size_bytes,
                modified_ms,
                files,
            });
        }
        entries.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.name.cmp(&b.name)));
        let (disk_total_bytes, disk_free_bytes) = disk_of(&self.root);
        Ok(StorageListing {
            total_bytes: entries.iter().map(|e| e.size_bytes).sum(),
            path: relative,
            root: self.root.display().to_string(),
            entries,
            disk_total_bytes,
            disk_free_bytes,
        })
    }

    /// Deletes a file or a folder with everything in it.
    pub fn delete(&self, relative: &str) -> Result<(), StorageError> {
        let relative = normalize(relative);
        if let Some(why) = self.protection(&relative) {
            return Err(StorageError::Protected(why));
        }
        let path = self.resolve(&relative)?;
        let meta = fs::symlink_metadata(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::Missing(relative.clone()),
            _ => StorageError::Io {
                path: relative.clone(),
                source: e,
            },
        })?;
        let removed = if meta.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|source| StorageError::Io {
            path: relative,
            source,
        })
    }

    /// Why `relative` may not be deleted, or `None` when it may.
    fn protection(&self, relative: &str) -> Option<String> {
        if relative.is_empty() {
            return Some("the storage folder itself cannot be deleted here".into());
        }
        let layout = HostDir::protected();
        let own_file =
            || format!("{relative} is one of the agent's own files; it is not deleted from here");
        if let Some(part) = layout.iter().find(|p| p.path == relative) {
            return Some(match part.protection {
                Protection::File => own_file(),
                _ => format!(
                    "{relative} is part of the agent's layout; delete what is inside it instead"
                ),
            });
        }
        // The agent writes only its own files at the top.
        if !relative.contains('/') {
            return Some(own_file());
        }
        for part in layout {
            let Some(inside) = relative
                .strip_prefix(part.path)
                .and_then(|rest| rest.strip_prefix('/'))
            else {
                continue;
            };
            match part.protection {
                Protection::Whole => {
                    return Some(
                        "the local hub's records are kept by the app; switch to a remote hub before removing them"
                            .into(),
                    );
                }
                Protection::PerTask => {
                    let id = inside.split('/').next().unwrap_or_default();
                    if self.held.contains(id) {
                        return Some(format!(
                            "task {id} is still running here; cancel it or wait for it to end"
                        ));
                    }
                }
                Protection::Folder | Protection::File => {}
            }
        }
        None
    }
}

/// `a//b/` → `a/b`; `.` parts dropped. An absolute path stays absolute,
/// for [`Storage::resolve`] to refuse.
fn normalize(relative: &str) -> String {
    let prefix = if relative.starts_with('/') { "/" } else { "" };
    let rest = relative
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/");
    format!("{prefix}{rest}")
}

fn modified_ms(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// A folder's bytes, newest change and file count, links not followed.
fn measure(dir: &Path) -> (u64, i64, u64) {
    let mut size = 0;
    let mut newest = fs::symlink_metadata(dir).map_or(0, |m| modified_ms(&m));
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            newest = newest.max(modified_ms(&meta));
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                size += meta.len();
                files += 1;
            }
        }
    }
    (size, newest, files)
}

/// The size of the disk holding `path`, and the space left on it.
fn disk_of(path: &Path) -> (u64, u64) {
    let info = gantry_agent::monitor::disk_info(path);
    (info.total_bytes, info.free_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for folder in [
            "tasks/t1/work",
            "tasks/t2/work/deep",
            "storage/results/t1",
            "hub",
            "logs",
        ] {
            fs::create_dir_all(root.join(folder)).unwrap();
        }
        fs::write(root.join("tasks/t1/work/a.bin"), vec![0u8; 1000]).unwrap();
        fs::write(root.join("tasks/t2/work/deep/b.bin"), vec![0u8; 300]).unwrap();
        fs::write(root.join("tasks/t2/work/c.txt"), b"hello").unwrap();
        fs::write(root.join("storage/results/t1/out.txt"), b"out").unwrap();
        fs::write(root.join("agent.id"), b"id").unwrap();
        fs::write(root.join("hub/hub.db"), b"db").unwrap();
        let storage = Storage::new(root, HashSet::from(["t1".to_owned()]));
        (dir, storage)
    }

    #[test]
    fn lists_folders_with_what_is_inside_largest_first() {
        let (_dir, storage) = storage();
        let top = storage.list("").unwrap();
        let names: Vec<&str> = top.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names[0], "tasks", "{names:?}");
        let tasks = &top.entries[0];
        assert!(tasks.dir);
        assert_eq!((tasks.size_bytes, tasks.files), (1305, 3));
        assert!(!tasks.deletable, "a layout folder");
        let listing = storage.list("tasks/").unwrap();
        assert_eq!(listing.path, "tasks");
        let t2 = listing.entries.iter().find(|e| e.name == "t2").unwrap();
        assert_eq!(
            (t2.path.as_str(), t2.size_bytes, t2.files),
            ("tasks/t2", 305, 2)
        );
        assert!(t2.deletable);
        let t1 = listing.entries.iter().find(|e| e.name == "t1").unwrap();
        assert!(!t1.deletable, "held");
        assert!(listing.disk_total_bytes > 0);
    }

    #[test]
    fn nothing_outside_is_reachable() {
        let (dir, storage) = storage();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("tasks/t2/link")).unwrap();
        for path in [
            "..",
            "../",
            "tasks/../../",
            "/etc",
            "tasks/t2/link",
            "tasks/t2/link/secret",
        ] {
            let listed = storage.list(path);
            assert!(
                matches!(listed, Err(StorageError::Outside(_))),
                "{path}: {listed:?}"
            );
        }
        assert!(matches!(
            storage.delete("tasks/t2/link/secret"),
            Err(StorageError::Outside(_))
        ));
        assert!(matches!(
            storage.delete("../x"),
            Err(StorageError::Outside(_))
        ));
        // The link shows as a file; deleting it leaves its target.
        let t2 = storage.list("tasks/t2").unwrap();
        let link = t2.entries.iter().find(|e| e.name == "link").unwrap();
        assert!(!link.dir);
        storage.delete("tasks/t2/link").unwrap();
        assert!(outside.path().join("secret").exists());
    }

    #[test]
    fn deletes_what_is_safe_and_refuses_the_rest() {
        let (dir, storage) = storage();
        for (path, code) in [
            ("", "protected"),
            ("tasks", "protected"),
            ("storage/results", "protected"),
            ("storage/blobs", "protected"),
            ("hub", "protected"),
            ("agent.id", "protected"),
            ("local-hub.json", "protected"),
            ("hub/hub.db", "protected"),
            ("tasks/t1/work/a.bin", "protected"),
            ("storage/results/t1/out.txt", "protected"),
            ("tasks/t9", "missing"),
        ] {
            let error = storage.delete(path).unwrap_err();
            assert_eq!(error.code(), code, "{path}: {error}");
        }
        storage.delete("tasks/t2/work/c.txt").unwrap();
        storage.delete("tasks/t2").unwrap();
        assert!(!dir.path().join("tasks/t2").exists());
        assert!(dir.path().join("tasks/t1/work/a.bin").exists());
    }

    #[test]
    fn a_hundred_thousand_entries_are_listed() {
        let (dir, storage) = storage();
        let many = dir.path().join("tasks/t2/work/many");
        fs::create_dir_all(&many).unwrap();
        for i in 0..100_000 {
            fs::write(many.join(format!("f{i}")), b"x").unwrap();
        }
        let listing = storage.list("tasks/t2/work/many").unwrap();
        assert_eq!(listing.entries.len(), 100_000);
        assert_eq!(listing.total_bytes, 100_000);
        let top = storage.list("tasks").unwrap();
        let t2 = top.entries.iter().find(|e| e.name == "t2").unwrap();
        assert_eq!(t2.files, 100_002);
    }
}

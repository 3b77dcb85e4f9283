//! Eviction: what goes to bring Gantry back within its budget or to make
//! room for a pull, least recently used first, and its removal. Each thing
//! removed is a line in the agent's log and an entry in the ledger's list
//! of evictions (the Storage screen's).

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::inventory::{Inventory, Item, Kind, walk};
use super::ledger::{Eviction, Ledger};
use crate::docker::Engine;
use crate::host::HostDir;

/// The things to remove to free `bytes`, least recently used first; all of
/// what may go when that is not enough.
pub fn plan(inventory: &Inventory, bytes: u64) -> Vec<Item> {
    let mut freed = 0;
    let mut chosen = Vec::new();
    for item in inventory.evictable() {
        if freed >= bytes {
            break;
        }
        freed += item.size;
        chosen.push(item.clone());
    }
    chosen
}

/// Removes `item`; an error says why it could not go (it stays counted).
/// A result's blobs go with it unless something else links them or a held
/// task needs them.
pub async fn remove(
    host: &HostDir,
    engine: Option<&Engine>,
    inventory: &Inventory,
    item: &Item,
) -> io::Result<()> {
    match (item.kind, &item.path) {
        (Kind::Image, _) => {
            let engine = engine.ok_or_else(|| io::Error::other("Docker is not reachable"))?;
            engine
                .remove_image(&item.name)
                .await
                .map_err(|e| io::Error::other(e.to_string()))?;
            Ledger::update(host, |l| {
                l.images.remove(&item.name);
            })?;
        }
        (kind, Some(path)) => {
            let path = path.clone();
            let blobs = host.blobs_folder();
            let held = inventory.held_blobs.clone();
            tokio::task::spawn_blocking(move || {
                let linked = if kind == Kind::Result {
                    linked_inodes(&path)
                } else {
                    HashSet::new()
                };
                if kind == Kind::Checkpoint {
                    super::checkpoints::remove_tree(&path)?;
                }
                remove_path(&path)?;
                if !linked.is_empty() {
                    free_blobs(&blobs, &linked, held.as_ref());
                }
                Ok::<(), io::Error>(())
            })
            .await
            .map_err(io::Error::other)??;
        }
        (_, None) => {}
    }
    Ok(())
}

/// Removes each of `items`, logging each, and returns those removed.
pub async fn apply(
    host: &HostDir,
    engine: Option<&Engine>,
    inventory: &Inventory,
    items: &[Item],
) -> Vec<Item> {
    let mut removed = Vec::new();
    for item in items {
        match remove(host, engine, inventory, item).await {
            Ok(()) => {
                tracing::info!(
                    kind = item.kind.word(),
                    name = %item.name,
                    bytes = item.size,
                    "disk budget: evicted {} {} ({}), least recently used",
                    item.kind.word(),
                    item.name,
                    super::amount(item.size)
                );
                removed.push(item.clone());
            }
            Err(error) => {
                tracing::warn!(%error, kind = item.kind.word(), name = %item.name, "disk budget: could not evict");
            }
        }
    }
    if !removed.is_empty() {
        let now = crate::clock::now_ms();
        let _ = Ledger::update(host, |l| {
            l.evictions.extend(removed.iter().map(|item| Eviction {
                at: now,
                kind: item.kind,
                name: item.name.clone(),
                size: item.size,
            }));
        });
    }
    removed
}

/// The (device, inode) of every file below `folder`.
fn linked_inodes(folder: &Path) -> HashSet<(u64, u64)> {
    let mut inodes = HashSet::new();
    walk(folder, &mut |_, meta| {
        inodes.insert((meta.dev(), meta.ino()));
    });
    inodes
}

/// Removes the blobs among `inodes` that nothing else links now, unless held.
fn free_blobs(blobs: &Path, inodes: &HashSet<(u64, u64)>, held: Option<&HashSet<String>>) {
    let Some(held) = held else {
        return;
    };
    walk(blobs, &mut |path, meta| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if meta.nlink() == 1 && inodes.contains(&(meta.dev(), meta.ino())) && !held.contains(name) {
            let _ = std::fs::remove_file(path);
        }
    });
}

/// Removes a file or a folder, read-only parts included (blobs are read-only).
fn remove_path(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if meta.is_dir() {
        make_writable(path);
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, size: u64, last_used: i64, stay: bool) -> Item {
        Item {
            kind: Kind::Blob,
            name: name.into(),
            size,
            last_used,
            stay: stay.then_some(super::super::inventory::Stay::InUse),
            path: None,
        }
    }

    #[test]
    fn the_least_recently_used_go_first_and_only_what_may_go() {
        let inventory = Inventory {
            items: vec![
                item("new", 10, 300, false),
                item("held", 10, 100, true),
                item("old", 10, 200, false),
                item("oldest", 10, 50, false),
            ],
            held_blobs: None,
        };
        let names = |items: Vec<Item>| items.into_iter().map(|i| i.name).collect::<Vec<_>>();
        assert_eq!(names(plan(&inventory, 15)), ["oldest", "old"]);
        assert_eq!(names(plan(&inventory, 0)), Vec::<String>::new());
        assert_eq!(names(plan(&inventory, 1000)), ["oldest", "old", "new"]);
    }
}

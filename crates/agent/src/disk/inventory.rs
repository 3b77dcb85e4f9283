//! What counts against the budget, and what of it may go.
//!
//! Five kinds of things count: images Gantry pulled (the ledger says which;
//! the person's own never count), blobs in the host dir's store that nothing
//! else holds, kept results (`storage/results/<task>/`, hard links into the
//! store, so a result's bytes are counted once, with the result), the
//! folders of finished tasks and released tasks' checkpoints
//! (`checkpoints/<task>/`). Each is listed with its size and when it was
//! last used, and with why it must stay, if it must:
//!
//! - a task this node holds (running, or taken and waiting to run; its
//!   record is in `tasks/<id>/task.json`) needs its image, its blobs, its
//!   folder, its results and its checkpoint; a container of any state needs
//!   its image;
//! - a kept result whose files the hub has not got (WITH_LOCAL_STORAGE keeps
//!   outputs on the node and the hub only lists them) stays, unless the
//!   person allowed it (`disk_evict_unsynced_results`);
//! - a checkpoint stays while its task may come back to this node
//!   ([`super::checkpoints`]).

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use gantry_client::HubClient;
use gantry_protocol::job::InputRef;
use serde::{Deserialize, Serialize};

use super::ledger::{Ledger, Owner};
use crate::docker::Engine;
use crate::host::HostDir;
use crate::record::Records;

/// How long an image Gantry pulled may be missing from the engine before
/// the ledger forgets it.
const FORGET_GONE_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// What kind of thing counts against the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An image Gantry pulled.
    Image,
    /// A blob in the host dir's store.
    Blob,
    /// A task's kept results.
    Result,
    /// A finished task's folder (its work folder and its log's spool).
    TaskFolder,
    /// A released task's checkpoint folder (`checkpoints/<task>/`).
    #[serde(rename = "checkpoints")]
    Checkpoint,
}

impl Kind {
    /// Every kind, in the order the Storage screen lists them.
    pub const ALL: [Kind; 5] = [
        Kind::Image,
        Kind::Blob,
        Kind::Result,
        Kind::TaskFolder,
        Kind::Checkpoint,
    ];

    /// How the log and `gantry agent gc` name it.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Blob => "blob",
            Kind::Result => "result",
            Kind::TaskFolder => "task folder",
            Kind::Checkpoint => "checkpoint",
        }
    }
}

/// Why a thing that counts must stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stay {
    /// A task this node holds needs it, or a container uses it.
    InUse,
    /// Kept results the hub has not got.
    Unsynced,
    /// A released task's checkpoint, while the task may come back.
    MayReturn,
}

/// One thing that counts against the budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its kind.
    pub kind: Kind,
    /// The image reference, the blob's sha256 or the task's id (results,
    /// task folders, checkpoints).
    pub name: String,
    /// The bytes it holds.
    pub size: u64,
    /// When it was last used (ms since the epoch).
    pub last_used: i64,
    /// Why it must stay; `None` when it may be evicted.
    pub stay: Option<Stay>,
    /// Its path in the host dir (none for an image).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// Everything that counts, and what the held tasks need.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The things, in no order.
    pub items: Vec<Item>,
    /// Blobs the held tasks need (by sha256); every blob when `None`.
    pub held_blobs: Option<HashSet<String>>,
}

impl Inventory {
    /// What Gantry holds on the disk.
    pub fn used(&self) -> u64 {
        self.items.iter().map(|i| i.size).sum()
    }

    /// What may go, least recently used first.
    pub fn evictable(&self) -> Vec<&Item> {
        let mut items: Vec<&Item> = self.items.iter().filter(|i| i.stay.is_none()).collect();
        items.sort_by(|a, b| (a.last_used, &a.name).cmp(&(b.last_used, &b.name)));
        items
    }
}

/// Where to look, and whom to ask.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The host dir.
    pub host: &'a HostDir,
    /// The engine, for images; none: images are left out.
    pub engine: Option<&'a Engine>,
    /// The hub, asked whether it holds kept results; none: they read as unsynced.
    pub hub: Option<&'a HubClient>,
    /// Kept results the hub has not got may go too.
    pub evict_unsynced_results: bool,
}

/// What the tasks this node holds need.
#[derive(Debug, Default)]
struct Needs {
    tasks: HashSet<String>,
    images: HashSet<String>,
    blobs: HashSet<String>,
    /// A held task places a folder (a tree input or a checkpoint) whose
    /// blobs are not listed here: every blob stays while it is held.
    all_blobs: bool,
}

fn needs(host: &HostDir) -> Needs {
    let mut needs = Needs::default();
    for record in Records::new(host.clone()).load_all() {
        let task = &record.task;
        needs.tasks.insert(task.id.clone());
        needs.images.extend(task.spec.image.clone());
        needs
            .images
            .extend(task.spec.services.iter().map(|s| s.image.clone()));
        needs
            .blobs
            .extend(task.spec.files.iter().filter_map(|f| f.blob.clone()));
        for key in task.spec.inputs.keys() {
            match InputRef::of(key) {
                InputRef::Blob(sha) => {
                    needs.blobs.insert(sha.to_owned());
                }
                _ => needs.all_blobs = true,
            }
        }
        if task.checkpoint.is_some() {
            needs.all_blobs = true;
        }
    }
    needs
}

/// Takes stock of what counts against the budget.
pub async fn take(sources: Sources<'_>) -> Inventory {
    let host = sources.host.clone();
    let needs = needs(&host);
    let (mut items, blob_names) = {
        let host = host.clone();
        tokio::task::spawn_blocking(move || files(&host))
            .await
            .unwrap_or_default()
    };
    for item in &mut items {
        let held = match item.kind {
            Kind::Blob => needs.all_blobs || needs.blobs.contains(&item.name),
            _ => needs.tasks.contains(&item.name),
        };
        if held {
            item.stay = Some(Stay::InUse);
        } else if item.kind == Kind::Checkpoint {
            item.stay = super::checkpoints::stay(&host, sources.hub, &item.name).await;
        } else if item.kind == Kind::Result && !sources.evict_unsynced_results {
            let synced = match (sources.hub, &item.path) {
                (Some(hub), Some(path)) => hub_has(hub, path, &blob_names).await,
                _ => false,
            };
            if !synced {
                item.stay = Some(Stay::Unsynced);
            }
        }
    }
    if let Some(engine) = sources.engine {
        items.extend(images(&host, engine, &needs).await);
    }
    let held_blobs = (!needs.all_blobs).then_some(needs.blobs);
    Inventory { items, held_blobs }
}

/// Images Gantry pulled and the engine still has, dropping the ledger's
/// entries for images gone for a week.
async fn images(host: &HostDir, engine: &Engine, needs: &Needs) -> Vec<Item> {
    let ledger = Ledger::read(host);
    let Ok(in_use) = engine.images_in_use().await else {
        // Without the containers' images nothing can be said safe to remove.
        return Vec::new();
    };
    let ours: HashSet<String> = ledger
        .images
        .iter()
        .filter(|(_, e)| e.owner == Owner::Gantry)
        .map(|(name, _)| with_tag(name))
        .collect();
    let mut items = Vec::new();
    let mut gone = Vec::new();
    let mut counted = HashSet::new();
    for (name, entry) in &ledger.images {
        if entry.owner != Owner::Gantry {
            continue;
        }
        let facts = match engine.image_facts(name).await {
            Ok(Some(facts)) => facts,
            Ok(None) => {
                // Noted before its pull, or removed by hand: forgotten only
                // once unused for a while, so a pull in progress stays Gantry's.
                if crate::clock::now_ms().saturating_sub(entry.last_used) > FORGET_GONE_AFTER_MS {
                    gone.push(name.clone());
                }
                continue;
            }
            Err(_) => continue,
        };
        // A tag of the person's on the same image keeps it theirs too.
        let shared = facts.tags.iter().any(|tag| !ours.contains(tag));
        if shared || !counted.insert(facts.id.clone()) {
            continue;
        }
        let held = needs.images.contains(name) || in_use.contains(&facts.id);
        items.push(Item {
            kind: Kind::Image,
            name: name.clone(),
            size: facts.size,
            last_used: entry.last_used,
            stay: held.then_some(Stay::InUse),
            path: None,
        });
    }
    if !gone.is_empty() {
        let _ = Ledger::update(host, |l| {
            for name in &gone {
                if l.images.get(name).is_some_and(|e| e.owner == Owner::Gantry) {
                    l.images.remove(name);
                }
            }
        });
    }
    items
}

/// `name:latest` for a reference without a tag or digest, as the engine lists tags.
pub(super) fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// Whether the hub holds every file of the kept results in `folder`.
async fn hub_has(hub: &HubClient, folder: &Path, blobs: &HashMap<(u64, u64), String>) -> bool {
    let mut files = Vec::new();
    walk(folder, &mut |path, meta| {
        files.push((path.to_owned(), meta.dev(), meta.ino()))
    });
    for (path, dev, ino) in files {
        let sha = match blobs.get(&(dev, ino)) {
            Some(sha) => sha.clone(),
            None => match crate::host::hash_file(&path).await {
                Ok((sha, _)) => sha,
                Err(_) => return false,
            },
        };
        if !matches!(hub.blob_size(&sha).await, Ok(Some(_))) {
            return false;
        }
    }
    true
}

/// The host dir's blobs, results and task folders, each inode counted once;
/// and the blobs by (device, inode), to name a result's files.
fn files(host: &HostDir) -> (Vec<Item>, HashMap<(u64, u64), String>) {
    let mut items = Vec::new();
    let mut blob_names = HashMap::new();
    let mut seen = HashSet::new();
    let mut shared_blobs = Vec::new();
    walk(&host.blobs_folder(), &mut |path, meta| {
        let Some(sha) = path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        blob_names.insert((meta.dev(), meta.ino()), sha.to_owned());
        if meta.nlink() > 1 {
            // Linked from kept results: it counts with them.
            shared_blobs.push(path.to_owned());
            return;
        }
        seen.insert((meta.dev(), meta.ino()));
        items.push(Item {
            kind: Kind::Blob,
            name: sha.to_owned(),
            size: meta.len(),
            last_used: used_at(meta),
            stay: None,
            path: Some(path.to_owned()),
        });
    });
    for (kind, root) in [
        (Kind::Result, host.results_folder()),
        (Kind::TaskFolder, host.tasks_folder()),
        (Kind::Checkpoint, host.checkpoints_folder()),
    ] {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if kind == Kind::Checkpoint && !entry.file_type().is_ok_and(|t| t.is_dir()) {
                // `<task>.tree`: a few bytes, removed with its folder.
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            let mut size = 0;
            let mut last_used = entry.metadata().map(|m| used_at(&m)).unwrap_or(0);
            walk(&path, &mut |_, meta| {
                last_used = last_used.max(used_at(meta));
                if seen.insert((meta.dev(), meta.ino())) {
                    size += meta.len();
                }
            });
            items.push(Item {
                kind,
                name,
                size,
                last_used,
                stay: None,
                path: Some(path),
            });
        }
    }
    // A blob linked only from what is no longer there (a result removed by
    // hand) still holds its bytes: it counts as a blob of its own.
    for path in shared_blobs {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if seen.insert((meta.dev(), meta.ino())) {
            items.push(Item {
                kind: Kind::Blob,
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                size: meta.len(),
                last_used: used_at(&meta),
                stay: None,
                path: Some(path),
            });
        }
    }
    (items, blob_names)
}

/// When a file was last used: the later of its change and its last read
/// (as far as the file system keeps reads).
fn used_at(meta: &std::fs::Metadata) -> i64 {
    let ms = |secs: i64, nanos: i64| secs * 1000 + nanos / 1_000_000;
    ms(meta.mtime(), meta.mtime_nsec()).max(ms(meta.atime(), meta.atime_nsec()))
}

/// Every file below `root` (not following links), with its metadata.
pub(super) fn walk(root: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    let Ok(meta) = std::fs::symlink_metadata(root) else {
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(root) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            walk(&entry.path(), visit);
        }
    } else {
        visit(root, &meta);
    }
}

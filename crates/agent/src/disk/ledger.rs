//! What the disk budget remembers between runs, in the host dir
//! (`disk.json`, read and written under `disk.lock` so the agent and a
//! `gantry agent gc` beside it never lose each other's changes):
//!
//! - each image Gantry needed, with whose it is: one Gantry pulled (it may
//!   be evicted) or one that was on the machine before Gantry first needed
//!   it (the person's: never removed, never counted), and when a task last
//!   used it;
//! - the tasks given back to the hub for want of room, so a task that comes
//!   back to this node fails instead of going round;
//! - the last evictions, for the Storage screen.
//!
//! A ledger that is lost or unreadable is safe: every image then reads as
//! the person's, and nothing of theirs is removed.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::inventory::Kind;
use crate::host::HostDir;

/// How many evictions the ledger keeps for the Storage screen.
const EVICTIONS_KEPT: usize = 100;
/// How long a task given back for want of room is remembered.
const GIVEN_BACK_FOR_MS: i64 = 24 * 3600 * 1000;

/// Whose an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// Gantry pulled it: it counts, and may be evicted.
    Gantry,
    /// It was here before Gantry first needed it.
    Person,
}

/// An image Gantry needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    /// Whose it is.
    pub owner: Owner,
    /// When a task last used it (ms since the epoch).
    pub last_used: i64,
}

/// One thing evicted, as the Storage screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eviction {
    /// When (ms since the epoch).
    pub at: i64,
    /// What kind of thing.
    pub kind: Kind,
    /// Its name: the image, the blob's sha256, the task.
    pub name: String,
    /// The bytes it held.
    pub size: u64,
}

/// The ledger's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Images by the reference tasks named them with.
    #[serde(default)]
    pub images: BTreeMap<String, ImageEntry>,
    /// Tasks given back for want of room, with when.
    #[serde(default)]
    pub given_back: BTreeMap<String, i64>,
    /// The last evictions, oldest first.
    #[serde(default)]
    pub evictions: Vec<Eviction>,
}

impl Ledger {
    /// Reads the ledger (empty when there is none).
    pub fn read(host: &HostDir) -> Ledger {
        let (path, _) = host.disk_ledger();
        read_file(&path)
    }

    /// Changes the ledger under its lock and writes it back atomically;
    /// returns what `change` returned.
    pub fn update<T>(host: &HostDir, change: impl FnOnce(&mut Ledger) -> T) -> io::Result<T> {
        let (path, lock) = host.disk_ledger();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock)?;
        lock.lock()?;
        let mut ledger = read_file(&path);
        let out = change(&mut ledger);
        let now = crate::clock::now_ms();
        ledger
            .given_back
            .retain(|_, at| now.saturating_sub(*at) < GIVEN_BACK_FOR_MS);
        let extra = ledger.evictions.len().saturating_sub(EVICTIONS_KEPT);
        ledger.evictions.drain(..extra);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(&ledger).map_err(io::Error::other)?,
        )?;
        std::fs::rename(&tmp, &path)?;
        Ok(out)
    }

    /// Notes that a task uses `image`, now. `present` says whether it was on
    /// the machine before this use: an image present and never seen by
    /// Gantry is the person's.
    pub fn used(&mut self, image: &str, present: bool, now: i64) {
        let entry = self.images.entry(image.to_owned()).or_insert(ImageEntry {
            owner: if present {
                Owner::Person
            } else {
                Owner::Gantry
            },
            last_used: now,
        });
        entry.last_used = entry.last_used.max(now);
    }
}

fn read_file(path: &Path) -> Ledger {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(%error, path = %path.display(), "the disk ledger is unreadable; every image is taken for the person's");
            Ledger::default()
        }),
        Err(_) => Ledger::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_present_before_gantry_needed_it_is_the_persons_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostDir::open(dir.path()).unwrap();
        Ledger::update(&host, |l| {
            l.used("mine:1", true, 10);
            l.used("pulled:1", false, 20);
        })
        .unwrap();
        // Later uses, present now, do not change whose it is.
        Ledger::update(&host, |l| l.used("pulled:1", true, 30)).unwrap();
        let ledger = Ledger::read(&host);
        assert_eq!(ledger.images["mine:1"].owner, Owner::Person);
        assert_eq!(ledger.images["pulled:1"].owner, Owner::Gantry);
        assert_eq!(ledger.images["pulled:1"].last_used, 30);
    }
}

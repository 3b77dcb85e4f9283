//! Keeping the disk within the person's budget.
//!
//! [`budget`] is the arithmetic of the three numbers; [`inventory`] takes
//! stock of what counts against them (images Gantry pulled, blobs, kept
//! results, finished task folders, released tasks' checkpoints) and of what
//! must stay ([`checkpoints`] says how long a checkpoint awaits its task's
//! return); [`evict`] removes
//! what may go, least recently used first, each removal a line in the
//! agent's log; [`ledger`] remembers, in the host dir, which images Gantry
//! pulled (an image that was here before is the person's and is never
//! removed) and when each was last used; [`room`] is the check before a
//! pull and `gantry agent gc`'s pass.
//!
//! The disk measured is the one holding the host dir; Docker's images count
//! against it by their size as `docker image ls` gives it, wherever the
//! engine keeps them.

pub mod budget;
pub mod checkpoints;
pub mod estimate;
pub mod evict;
pub mod inventory;
pub mod ledger;
pub mod room;

use std::path::Path;

pub use budget::{Allowance, DiskBudget, DiskFigures, Tightest};
pub use inventory::{Inventory, Item, Kind, Sources, Stay};
pub use room::{NoRoom, Standing};

/// The disk holding `host_dir` with `used_by_gantry` bytes of Gantry's on it.
pub fn figures_with(host_dir: &Path, used_by_gantry: u64) -> DiskFigures {
    let info = crate::monitor::disk_info(host_dir);
    DiskFigures {
        total: info.total_bytes,
        free: info.free_bytes,
        used_by_gantry,
    }
}

/// The disk holding `host_dir` and what Gantry holds in it (blobs, kept
/// results, task folders, checkpoints; images are left out, as they need the engine:
/// [`room::standing`] counts them too). For `gantry doctor`.
pub async fn figures(host_dir: &Path) -> std::io::Result<DiskFigures> {
    let host = crate::host::HostDir::open(host_dir)?;
    let inventory = inventory::take(Sources {
        host: &host,
        engine: None,
        hub: None,
        evict_unsynced_results: false,
    })
    .await;
    Ok(figures_with(host_dir, inventory.used()))
}

/// A size as a person reads it: `14.2 GB`, `850.0 MB`, `12.0 kB`, `12 B`.
pub fn amount(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(super::amount(14_200_000_000), "14.2 GB");
        assert_eq!(super::amount(6_100_000_000), "6.1 GB");
        assert_eq!(super::amount(45_000_000), "45.0 MB");
        assert_eq!(super::amount(1_500), "1.5 kB");
        assert_eq!(super::amount(12), "12 B");
    }
}

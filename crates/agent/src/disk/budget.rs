//! The disk budget: how much of the disk Gantry may use, as three numbers
//! the person sets (BOINC's three): at most N bytes used by Gantry, at most
//! N % of the disk, at least N bytes left free. The tightest wins.
//!
//! This is arithmetic only, so the agent's eviction, `gantry doctor` and the
//! desktop's Storage screen compute the same room from the same figures.

use serde::{Deserialize, Serialize};

const GB: u64 = 1_000_000_000;

/// The person's three numbers; `None` leaves a number out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskBudget {
    /// At most this many bytes used by Gantry (`--disk-max-gb`).
    pub max_bytes: Option<u64>,
    /// At most this percent of the disk used by Gantry (`--disk-max-percent`).
    pub max_percent: Option<u8>,
    /// At least this many bytes left free on the disk (`--disk-min-free-gb`).
    pub min_free_bytes: Option<u64>,
}

impl Default for DiskBudget {
    /// A desktop's defaults: half the disk at most, and 10 GB always left
    /// for the person.
    fn default() -> DiskBudget {
        DiskBudget {
            max_bytes: None,
            max_percent: Some(50),
            min_free_bytes: Some(10 * GB),
        }
    }
}

/// The disk as the file system reports it, and what Gantry holds on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskFigures {
    /// The file system's size.
    pub total: u64,
    /// What is free on it now (for unprivileged users, as `df` shows).
    pub free: u64,
    /// What Gantry holds: images it pulled, blobs, kept results, task folders.
    pub used_by_gantry: u64,
}

/// Which of the three numbers set the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tightest {
    /// `--disk-max-gb`.
    MaxBytes,
    /// `--disk-max-percent`.
    MaxPercent,
    /// `--disk-min-free-gb`.
    MinFree,
    /// No number is set: the disk's free space is the only limit.
    Disk,
}

/// What the budget allows Gantry on a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The most Gantry may hold in all.
    pub limit: u64,
    /// Which number set `limit`.
    pub tightest: Tightest,
    /// What Gantry may still add without evicting: `limit` minus what it
    /// holds, or 0 when it holds more.
    pub room: u64,
    /// What Gantry must give back to be within the budget again.
    pub over: u64,
}

impl DiskBudget {
    /// What the budget allows on a disk with these figures.
    pub fn allowance(&self, disk: DiskFigures) -> Allowance {
        // Gantry may grow into what is free, and keep what it already holds.
        let mut limit = disk.used_by_gantry.saturating_add(disk.free);
        let mut tightest = Tightest::Disk;
        let mut tighten = |value: u64, which: Tightest| {
            if value < limit {
                limit = value;
                tightest = which;
            }
        };
        if let Some(max) = self.max_bytes {
            tighten(max, Tightest::MaxBytes);
        }
        if let Some(percent) = self.max_percent {
            let share = u128::from(disk.total) * u128::from(percent.min(100)) / 100;
            tighten(share as u64, Tightest::MaxPercent);
        }
        if let Some(min_free) = self.min_free_bytes {
            let keep = disk
                .used_by_gantry
                .saturating_add(disk.free)
                .saturating_sub(min_free);
            tighten(keep, Tightest::MinFree);
        }
        Allowance {
            limit,
            tightest,
            room: limit.saturating_sub(disk.used_by_gantry),
            over: disk.used_by_gantry.saturating_sub(limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISK: DiskFigures = DiskFigures {
        total: 500 * GB,
        free: 100 * GB,
        used_by_gantry: 40 * GB,
    };

    #[test]
    fn the_tightest_number_wins() {
        let budget = DiskBudget {
            max_bytes: Some(60 * GB),
            max_percent: Some(50),
            min_free_bytes: Some(10 * GB),
        };
        let allowed = budget.allowance(DISK);
        assert_eq!(allowed.limit, 60 * GB);
        assert_eq!(allowed.tightest, Tightest::MaxBytes);
        assert_eq!(allowed.room, 20 * GB);
        assert_eq!(allowed.over, 0);

        let percent = DiskBudget {
            max_percent: Some(10),
            ..budget
        };
        let allowed = percent.allowance(DISK);
        assert_eq!(
            (allowed.limit, allowed.tightest),
            (50 * GB, Tightest::MaxPercent)
        );

        let free = DiskBudget {
            min_free_bytes: Some(95 * GB),
            ..budget
        };
        let allowed = free.allowance(DISK);
        assert_eq!(
            (allowed.limit, allowed.tightest),
            (45 * GB, Tightest::MinFree)
        );
        assert_eq!(allowed.room, 5 * GB);
    }

    #[test]
    fn a_full_disk_leaves_no_room_and_says_how_much_is_over() {
        let full = DiskFigures {
            total: 500 * GB,
            free: 2 * GB,
            used_by_gantry: 40 * GB,
        };
        let allowed = DiskBudget::default().allowance(full);
        assert_eq!(allowed.tightest, Tightest::MinFree);
        assert_eq!(allowed.limit, 32 * GB);
        assert_eq!(allowed.room, 0);
        assert_eq!(allowed.over, 8 * GB);
    }

    #[test]
    fn without_numbers_only_the_free_space_limits() {
        let none = DiskBudget {
            max_bytes: None,
            max_percent: None,
            min_free_bytes: None,
        };
        let allowed = none.allowance(DISK);
        assert_eq!(allowed.tightest, Tightest::Disk);
        assert_eq!(allowed.room, 100 * GB);
    }
}

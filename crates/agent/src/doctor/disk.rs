//! The disk against the person's budget ([`crate::disk::DiskBudget`]).
//!
//! The file system holding the host dir is measured with statvfs, and what
//! Gantry holds there as the agent's own disk budget counts it
//! ([`crate::disk::room::standing`]: images it pulled, blobs, kept results,
//! task folders). A host dir not made yet holds nothing; with Docker out of
//! reach, images are left out and the message says so.

use std::path::Path;
use std::time::Duration;

use super::Check;
use crate::disk::{DiskBudget, DiskFigures, Sources, Tightest, room};
use crate::docker::Engine;
use crate::host::HostDir;

/// Less room than this is a warning: a CUDA image alone is 5–20 GB.
pub const LOW_ROOM: u64 = 5_000_000_000;

/// The `disk` check.
pub async fn check(
    host_dir: &Path,
    budget: &DiskBudget,
    docker_host: Option<&str>,
    call_timeout: Duration,
) -> Check {
    if host_dir.is_dir()
        && let Ok(host) = HostDir::open(host_dir)
    {
        let engine = Engine::connect(docker_host, call_timeout).await.ok();
        let sources = Sources {
            host: &host,
            engine: engine.as_ref(),
            hub: None,
            evict_unsynced_results: false,
        };
        let standing = room::standing(sources, budget).await;
        if standing.figures.total > 0 {
            let mut check = verdict(host_dir, budget, standing.figures);
            if engine.is_none() {
                check
                    .message
                    .push_str(" (images not counted: Docker is not reachable)");
            }
            return check;
        }
    }
    let host_dir = host_dir.to_path_buf();
    let budget = *budget;
    tokio::task::spawn_blocking(move || measure(&host_dir, &budget))
        .await
        .unwrap_or_else(|_| {
            Check::warning(
                "disk",
                "measuring the disk stopped short",
                "run gantry doctor again",
            )
        })
}

/// The check, blocking, without the engine: statvfs and a walk of the host dir.
pub fn measure(host_dir: &Path, budget: &DiskBudget) -> Check {
    const NAME: &str = "disk";
    let info = crate::monitor::disk_info(host_dir);
    if info.total_bytes == 0 {
        return Check::warning(
            NAME,
            format!("cannot measure the disk that holds {}", host_dir.display()),
            "check that the host dir's parent folder exists and can be read",
        );
    }
    let figures = DiskFigures {
        total: info.total_bytes,
        free: info.free_bytes,
        used_by_gantry: size_of(host_dir),
    };
    verdict(host_dir, budget, figures)
}

/// What the figures say against the budget.
fn verdict(host_dir: &Path, budget: &DiskBudget, figures: DiskFigures) -> Check {
    const NAME: &str = "disk";
    let allowance = budget.allowance(figures);
    let set_by = match allowance.tightest {
        Tightest::MaxBytes => "--disk-max-gb".to_owned(),
        Tightest::MaxPercent => format!(
            "--disk-max-percent {}",
            budget.max_percent.unwrap_or_default()
        ),
        Tightest::MinFree => format!(
            "--disk-min-free-gb {}",
            budget.min_free_bytes.unwrap_or_default() as f64 / 1e9
        ),
        Tightest::Disk => "the disk's free space".to_owned(),
    };
    let said = format!(
        "Gantry holds {} in {}; the budget allows {} (set by {set_by}), {} free on the disk",
        gb(figures.used_by_gantry),
        host_dir.display(),
        gb(allowance.limit),
        gb(figures.free)
    );
    let fix = "free space on the disk, or raise the budget (--disk-max-gb, --disk-max-percent, \
               --disk-min-free-gb, or Settings in the desktop app)";
    if allowance.over > 0 {
        Check::failure(
            NAME,
            format!(
                "{said}: {} over the budget, so no image or input can be added",
                gb(allowance.over)
            ),
            format!("remove finished task folders and kept results in the host dir, {fix}"),
        )
    } else if allowance.room < LOW_ROOM {
        Check::warning(
            NAME,
            format!(
                "{said}: only {} more fits, less than one large image",
                gb(allowance.room)
            ),
            fix,
        )
    } else {
        Check::ok(NAME, format!("{said}: {} more fits", gb(allowance.room)))
    }
}

/// Bytes of the files under `dir` (links are not followed; what cannot be
/// read counts as nothing).
fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => size_of(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Bytes in GB with one decimal, as the budget's flags count them.
fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    #[test]
    fn a_host_dir_over_its_budget_fails_and_within_it_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tasks/t1")).unwrap();
        std::fs::write(dir.path().join("tasks/t1/out.bin"), vec![0u8; 3000]).unwrap();
        let budget = |max_bytes| DiskBudget {
            max_bytes: Some(max_bytes),
            max_percent: None,
            min_free_bytes: None,
        };
        let over = measure(dir.path(), &budget(1000));
        assert_eq!(over.status, Status::Failure, "{over:?}");
        assert!(over.message.contains("over the budget"), "{over:?}");
        assert!(over.message.contains("--disk-max-gb"), "{over:?}");
        let tight = measure(dir.path(), &budget(1_000_000));
        assert_eq!(tight.status, Status::Warning, "{tight:?}");
        let roomy = measure(
            dir.path(),
            &DiskBudget {
                max_bytes: None,
                max_percent: None,
                min_free_bytes: None,
            },
        );
        // The only limit is the free space of the disk this test runs on.
        let free = crate::monitor::disk_info(dir.path()).free_bytes;
        let expected = if free < LOW_ROOM {
            Status::Warning
        } else {
            Status::Ok
        };
        assert_eq!(roomy.status, expected, "{roomy:?}");
    }

    #[test]
    fn a_host_dir_not_made_yet_is_measured_on_its_parents_disk() {
        let dir = tempfile::tempdir().unwrap();
        let check = measure(&dir.path().join("not/yet"), &DiskBudget::default());
        assert_ne!(check.status, Status::Failure, "{check:?}");
        assert!(check.message.contains("Gantry holds 0.0 GB"), "{check:?}");
    }
}

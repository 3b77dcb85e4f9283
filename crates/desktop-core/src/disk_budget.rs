//! The disk budget as the desktop shows and edits it: the Storage screen's
//! bar (the budget, what Gantry uses by kind, what would go next, the last
//! evictions) from the agent's own stock-taking ([`gantry_agent::disk`]),
//! and Settings' three numbers and the kept-results switch, kept in
//! `desktop.json` under the agent.toml keys' names (`disk_max_gb`,
//! `disk_max_percent`, `disk_min_free_gb`, `disk_evict_unsynced_results`).
//! They fill the agent's settings where the environment and agent.toml
//! leave the defaults.

use gantry_agent::config::AgentConfig;
use gantry_agent::disk::{DiskBudget, Item, Kind, Sources, Tightest, room};
use gantry_agent::docker::Engine;
use gantry_agent::host::HostDir;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

const GB: f64 = 1e9;
/// How many of the next evictions the screen lists.
const NEXT_SHOWN: usize = 8;

/// The person's disk numbers, as Settings edits them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct DiskSettings {
    /// At most this many GB used by Gantry; `None`: no such limit.
    pub disk_max_gb: Option<f64>,
    /// At most this percent of the disk; `None`: no such limit.
    pub disk_max_percent: Option<u8>,
    /// At least this many GB left free; `None`: no such limit.
    pub disk_min_free_gb: Option<f64>,
    /// Kept results the hub has not got may be evicted too.
    pub disk_evict_unsynced_results: bool,
}

// `checked` refuses NaN, the one value equality would not hold for, so
// desktop.json's settings may compare whole.
impl Eq for DiskSettings {}

impl DiskSettings {
    /// The numbers the agent runs with now.
    pub fn of(budget: &DiskBudget, evict_unsynced_results: bool) -> DiskSettings {
        DiskSettings {
            disk_max_gb: budget.max_bytes.map(|b| b as f64 / GB),
            disk_max_percent: budget.max_percent,
            disk_min_free_gb: budget.min_free_bytes.map(|b| b as f64 / GB),
            disk_evict_unsynced_results: evict_unsynced_results,
        }
    }

    /// The agent's budget for these numbers.
    pub fn budget(&self) -> DiskBudget {
        let bytes = |gb: Option<f64>| gb.filter(|g| *g > 0.0).map(|g| (g * GB).round() as u64);
        DiskBudget {
            max_bytes: bytes(self.disk_max_gb),
            max_percent: self.disk_max_percent.filter(|p| *p > 0),
            min_free_bytes: bytes(self.disk_min_free_gb),
        }
    }

    /// The numbers, or a sentence saying what to fix.
    pub fn checked(self) -> Result<DiskSettings, String> {
        for (gb, what) in [
            (self.disk_max_gb, "\"At most … GB\""),
            (self.disk_min_free_gb, "\"Leave at least … GB free\""),
        ] {
            if let Some(gb) = gb
                && (!gb.is_finite() || gb < 0.0)
            {
                return Err(format!(
                    "{what} needs a number of 0 or more (0 leaves it out)"
                ));
            }
        }
        if self.disk_max_percent.is_some_and(|p| p > 100) {
            return Err("\"At most … % of the disk\" is at most 100".into());
        }
        Ok(self)
    }
}

/// What one kind of thing takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DiskUse {
    /// `image`, `blob`, `result`, `task_folder` or `checkpoints`.
    pub kind: String,
    /// Its bytes in all.
    #[ts(type = "number")]
    pub bytes: u64,
    /// Of which may be evicted now.
    #[ts(type = "number")]
    pub evictable_bytes: u64,
}

/// One thing that would go (or went).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DiskThing {
    /// Its kind, as in [`DiskUse`].
    pub kind: String,
    /// The image, the blob's sha256, the task.
    pub name: String,
    /// Its bytes.
    #[ts(type = "number")]
    pub bytes: u64,
    /// When it was last used, or evicted (ms since the epoch).
    #[ts(type = "number")]
    pub at: i64,
}

/// The Storage screen's budget.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct DiskBudgetView {
    /// The disk's size.
    #[ts(type = "number")]
    pub disk_total: u64,
    /// What is free on it.
    #[ts(type = "number")]
    pub disk_free: u64,
    /// The most Gantry may hold.
    #[ts(type = "number")]
    pub limit: u64,
    /// Which number sets it: `max_bytes`, `max_percent`, `min_free` or `disk`.
    pub tightest: String,
    /// What Gantry holds.
    #[ts(type = "number")]
    pub used: u64,
    /// By kind.
    pub by_kind: Vec<DiskUse>,
    /// What would go next, least recently used first.
    pub next: Vec<DiskThing>,
    /// The last evictions, newest first.
    pub evicted: Vec<DiskThing>,
    /// Whether the images could be counted (Docker answered).
    pub images_counted: bool,
    /// The numbers now.
    pub settings: DiskSettings,
    /// Whether the environment or agent.toml fixes them.
    pub locked: bool,
}

fn kind_name(kind: Kind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What each kind takes, every kind of [`Kind::ALL`] in its order (a kind
/// nothing is held of shows 0), so a kind the agent gains shows here too.
fn by_kind(items: &[Item]) -> Vec<DiskUse> {
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let (bytes, evictable_bytes) =
                items
                    .iter()
                    .filter(|i| i.kind == kind)
                    .fold((0, 0), |(all, free), i| {
                        (
                            all + i.size,
                            free + if i.stay.is_none() { i.size } else { 0 },
                        )
                    });
            DiskUse {
                kind: kind_name(kind),
                bytes,
                evictable_bytes,
            }
        })
        .collect()
}

/// Takes stock for `config`'s host dir, as the agent would now.
pub async fn view(config: &AgentConfig, locked: bool) -> std::io::Result<DiskBudgetView> {
    let host = HostDir::open(&config.host_dir)?;
    let engine = Engine::connect(
        config.docker_host.as_deref(),
        config.docker_api_call_timeout,
    )
    .await
    .ok();
    let sources = Sources {
        host: &host,
        engine: engine.as_ref(),
        // The hub is the agent's to ask; here results the hub may have read as kept.
        hub: None,
        evict_unsynced_results: config.disk_evict_unsynced_results,
    };
    let standing = room::standing(sources, &config.disk).await;
    let by_kind = by_kind(&standing.inventory.items);
    let next = standing
        .inventory
        .evictable()
        .into_iter()
        .take(NEXT_SHOWN)
        .map(|i| DiskThing {
            kind: kind_name(i.kind),
            name: i.name.clone(),
            bytes: i.size,
            at: i.last_used,
        })
        .collect();
    let ledger = gantry_agent::disk::ledger::Ledger::read(&host);
    let evicted = ledger
        .evictions
        .iter()
        .rev()
        .take(NEXT_SHOWN)
        .map(|e| DiskThing {
            kind: kind_name(e.kind),
            name: e.name.clone(),
            bytes: e.size,
            at: e.at,
        })
        .collect();
    Ok(DiskBudgetView {
        disk_total: standing.figures.total,
        disk_free: standing.figures.free,
        limit: standing.allowance.limit,
        tightest: match standing.allowance.tightest {
            Tightest::MaxBytes => "max_bytes",
            Tightest::MaxPercent => "max_percent",
            Tightest::MinFree => "min_free",
            Tightest::Disk => "disk",
        }
        .to_owned(),
        used: standing.figures.used_by_gantry,
        by_kind,
        next,
        evicted,
        images_counted: engine.is_some(),
        settings: DiskSettings::of(&config.disk, config.disk_evict_unsynced_results),
        locked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_agent::disk::Stay;

    #[test]
    fn settings_round_trip_through_the_agents_budget() {
        let settings = DiskSettings {
            disk_max_gb: Some(20.5),
            disk_max_percent: Some(40),
            disk_min_free_gb: Some(0.0),
            disk_evict_unsynced_results: true,
        };
        let budget = settings.budget();
        assert_eq!(budget.max_bytes, Some(20_500_000_000));
        assert_eq!(budget.max_percent, Some(40));
        assert_eq!(budget.min_free_bytes, None, "0 leaves it out");
        assert_eq!(DiskSettings::of(&budget, true).disk_max_gb, Some(20.5));
        assert!(
            DiskSettings {
                disk_max_percent: Some(120),
                ..settings
            }
            .checked()
            .is_err()
        );
        assert!(
            DiskSettings {
                disk_max_gb: Some(-1.0),
                ..settings
            }
            .checked()
            .unwrap_err()
            .contains("0 or more")
        );
    }

    #[test]
    fn every_kind_is_listed_with_its_name_checkpoints_too() {
        let item = |kind, size, stay| Item {
            kind,
            name: "t".into(),
            size,
            last_used: 0,
            stay,
            path: None,
        };
        let items = [
            item(Kind::Checkpoint, 300, None),
            item(Kind::Checkpoint, 200, Some(Stay::MayReturn)),
            item(Kind::Image, 10, None),
        ];
        let listed = by_kind(&items);
        let names: Vec<&str> = listed.iter().map(|u| u.kind.as_str()).collect();
        assert_eq!(
            names,
            ["image", "blob", "result", "task_folder", "checkpoints"]
        );
        let checkpoints = &listed[4];
        assert_eq!((checkpoints.bytes, checkpoints.evictable_bytes), (500, 300));
        assert_eq!((listed[1].bytes, listed[1].evictable_bytes), (0, 0));
    }
}

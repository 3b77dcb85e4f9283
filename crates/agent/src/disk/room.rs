//! The budget at work: where Gantry stands against it, room made for a
//! pull (or the sentence saying there is none), and the pass that brings
//! Gantry back within it (`gantry agent gc`, and each task's start).

use super::budget::{Allowance, DiskBudget, DiskFigures};
use super::evict;
use super::inventory::{self, Inventory, Item, Sources};

/// Where Gantry stands against its budget.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The disk and what Gantry holds on it.
    pub figures: DiskFigures,
    /// What the budget allows.
    pub allowance: Allowance,
    /// What counts, and what may go.
    pub inventory: Inventory,
}

impl Standing {
    /// What could be evicted in all.
    pub fn evictable(&self) -> u64 {
        self.inventory.evictable().iter().map(|i| i.size).sum()
    }

    /// What the budget leaves for something new once everything that may go is gone.
    pub fn leaves(&self) -> u64 {
        let kept = self.figures.used_by_gantry.saturating_sub(self.evictable());
        self.allowance.limit.saturating_sub(kept)
    }
}

/// Takes stock and measures the disk.
pub async fn standing(sources: Sources<'_>, budget: &DiskBudget) -> Standing {
    let inventory = inventory::take(sources).await;
    let figures = super::figures_with(sources.host.root(), inventory.used());
    Standing {
        figures,
        allowance: budget.allowance(figures),
        inventory,
    }
}

/// A pull that cannot fit even after eviction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("needs {}, the budget leaves {}", super::amount(*.need), super::amount(*.leaves))]
pub struct NoRoom {
    /// What the pull needs (estimated).
    pub need: u64,
    /// What the budget leaves after evicting all that may go.
    pub leaves: u64,
}

/// Makes room for `need` more bytes, evicting least recently used first;
/// what was evicted, or [`NoRoom`] (having evicted only what was over the
/// budget already) when it cannot fit.
pub async fn make_room(
    sources: Sources<'_>,
    budget: &DiskBudget,
    need: u64,
) -> Result<Vec<Item>, NoRoom> {
    let standing = standing(sources, budget).await;
    make_room_from(sources, &standing, need).await
}

/// [`make_room`] from a standing taken just before (the agent takes it
/// while the registry is asked for the sizes).
pub async fn make_room_from(
    sources: Sources<'_>,
    standing: &Standing,
    need: u64,
) -> Result<Vec<Item>, NoRoom> {
    if need == 0 {
        // Nothing to pull: only what is over the budget goes.
        return Ok(keep_within_from(sources, standing).await);
    }
    let used = standing.figures.used_by_gantry;
    let limit = standing.allowance.limit;
    let to_free = used.saturating_add(need).saturating_sub(limit);
    if to_free > standing.evictable() {
        let leaves = standing.leaves();
        keep_within_from(sources, standing).await;
        return Err(NoRoom { need, leaves });
    }
    let chosen = evict::plan(&standing.inventory, to_free);
    Ok(evict::apply(sources.host, sources.engine, &standing.inventory, &chosen).await)
}

/// What would go to bring Gantry within its budget, least recently used
/// first (`gantry agent gc --dry-run`).
pub fn over_budget(standing: &Standing) -> Vec<Item> {
    evict::plan(&standing.inventory, standing.allowance.over)
}

/// Brings Gantry within its budget; returns what was evicted.
pub async fn keep_within(sources: Sources<'_>, budget: &DiskBudget) -> Vec<Item> {
    let standing = standing(sources, budget).await;
    keep_within_from(sources, &standing).await
}

async fn keep_within_from(sources: Sources<'_>, standing: &Standing) -> Vec<Item> {
    let chosen = over_budget(standing);
    evict::apply(sources.host, sources.engine, &standing.inventory, &chosen).await
}

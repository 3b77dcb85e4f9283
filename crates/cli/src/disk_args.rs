//! The disk budget's flags for `gantry agent start` (and `gantry agent
//! gc`, which keeps the same budget by hand, and `gantry service install`,
//! which writes them into the unit's command line).

use clap::Args;
use gantry_agent::config::DiskFlags;

use crate::agent_args::Words;

/// How much of the disk Gantry may use: the tightest of the three numbers
/// wins. Each flag also reads its GANTRY_ variable and agent.toml key.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct DiskArgs {
    /// At most N GB (decimals allowed; 0 leaves it out) used by Gantry:
    /// images it pulled, blobs, kept results, finished task folders [env:
    /// GANTRY_DISK_MAX_GB; agent.toml: disk_max_gb; default: none].
    #[arg(long, value_name = "N")]
    disk_max_gb: Option<f64>,
    /// At most N % of the disk used by Gantry [env: GANTRY_DISK_MAX_PERCENT;
    /// agent.toml: disk_max_percent; default: 50].
    #[arg(long, value_name = "N")]
    disk_max_percent: Option<f64>,
    /// At least N GB left free on the disk [env: GANTRY_DISK_MIN_FREE_GB;
    /// agent.toml: disk_min_free_gb; default: 10].
    #[arg(long, value_name = "N")]
    disk_min_free_gb: Option<f64>,
    /// Kept results the hub has not got may be evicted too (by default they
    /// stay until the hub has them) [env: GANTRY_DISK_EVICT_UNSYNCED_RESULTS=1;
    /// agent.toml: disk_evict_unsynced_results = true].
    #[arg(long)]
    disk_evict_unsynced_results: bool,
}

impl DiskArgs {
    /// As the agent's config layer takes them.
    pub fn into_flags(self) -> DiskFlags {
        DiskFlags {
            max_gb: self.disk_max_gb,
            max_percent: self.disk_max_percent,
            min_free_gb: self.disk_min_free_gb,
            evict_unsynced_results: self.disk_evict_unsynced_results,
        }
    }

    /// The same flags as command-line words, for a service's unit.
    pub fn words(&self) -> Vec<String> {
        Words::default()
            .value("--disk-max-gb", self.disk_max_gb)
            .value("--disk-max-percent", self.disk_max_percent)
            .value("--disk-min-free-gb", self.disk_min_free_gb)
            .switch(
                "--disk-evict-unsynced-results",
                self.disk_evict_unsynced_results,
            )
            .done()
    }
}

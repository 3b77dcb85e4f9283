//! The disk budget's answers: the Storage screen's bar, and Settings' disk
//! numbers kept in `desktop.json` (the agent restarts with them).

use std::sync::Arc;

use super::Desktop;
use crate::disk_budget::{self, DiskBudgetView, DiskSettings};
use crate::view::UiError;

/// The agent's fields the disk numbers fill.
const DISK_FIELDS: [&str; 2] = ["disk", "disk_evict_unsynced_results"];

impl Desktop {
    /// Where Gantry stands against its disk budget now.
    pub async fn disk_budget(&self) -> Result<DiskBudgetView, UiError> {
        let (config, locked) = crate::config::layered(&self.settings())
            .map_err(|e| UiError::new("config", format!("{e:#}")))?;
        let locked = locked.iter().any(|l| DISK_FIELDS.contains(&l.as_str()));
        disk_budget::view(&config, locked)
            .await
            .map_err(|e| UiError::new("io", e.to_string()))
    }

    /// Keeps the disk numbers and restarts the agent with them (running
    /// containers go on and are picked up again). Numbers the environment
    /// or agent.toml fix are refused with where to change them.
    pub async fn save_disk_settings(
        self: &Arc<Desktop>,
        settings: DiskSettings,
    ) -> Result<(), UiError> {
        let settings = settings
            .checked()
            .map_err(|message| UiError::new("bad_setting", message))?;
        let (_, locked) = crate::config::layered(&self.settings())
            .map_err(|e| UiError::new("config", format!("{e:#}")))?;
        if locked.iter().any(|l| DISK_FIELDS.contains(&l.as_str())) {
            return Err(UiError::new(
                "bad_setting",
                "The environment or agent.toml sets the disk budget; change it there (disk_max_gb, disk_max_percent, disk_min_free_gb in ~/.config/gantry/agent.toml)",
            ));
        }
        self.settings.update(|s| s.disk = Some(settings))?;
        self.restart().await
    }
}

//! The Overview's "This week" card: GPU hours and kWh of the tasks that
//! ended on this node since Monday 00:00 local time, from the hub the
//! desktop's agent talks to (the embedded one in local mode), asked with the
//! agent's own node token (`GET /v1/agent/usage`). The UI knows the local
//! time zone, so it says when its Monday began.

use gantry_client::HubClient;
use gantry_protocol::wire::Millis;
use serde::Serialize;
use ts_rs::TS;

use crate::desktop::Desktop;
use crate::view::UiError;

/// What the card shows.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ThisWeek {
    /// GPU hours (each GPU held counts) since `since`.
    pub gpu_hours: f64,
    /// GPU energy in kWh since `since`.
    pub kwh: f64,
    /// CPU hours of its Docker tasks.
    pub cpu_hours: f64,
    /// How many tasks ended since `since`.
    #[ts(type = "number")]
    pub tasks: u64,
    /// The week's start the figures count from (Unix ms).
    #[ts(type = "number")]
    pub since: Millis,
}

/// This node's figures since `since`, from its hub.
pub async fn of(hub: &HubClient, since: Millis) -> Result<ThisWeek, UiError> {
    let usage = hub.own_usage(since).await.map_err(|error| {
        UiError::new(
            "hub",
            format!("this week's usage could not be read from the hub: {error}"),
        )
    })?;
    Ok(ThisWeek {
        gpu_hours: usage.totals.gpu_seconds / 3600.0,
        kwh: usage.totals.energy_wh / 1000.0,
        cpu_hours: usage.totals.cpu_seconds / 3600.0,
        tasks: usage.totals.tasks,
        since,
    })
}

impl Desktop {
    /// The "This week" card's figures since `since` (the UI's Monday 00:00).
    pub async fn this_week(&self, since: Millis) -> Result<ThisWeek, UiError> {
        let agent = self.agent()?;
        of(agent.hub(), since).await
    }
}

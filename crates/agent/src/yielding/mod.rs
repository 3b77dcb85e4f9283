//! Stepping aside for the computer's person.
//!
//! Gantry runs on people's own machines, and people uninstall what gets in
//! their way. The person sets rules (when I use this computer, when another
//! program uses the GPU, on battery, in quiet hours, above a GPU
//! temperature); while one holds, the node yields: its tasks are frozen or
//! released ([`YieldAction`]), it takes no new work the rule would stop, and
//! the hub shows why. Work comes back once every rule has been clear for the
//! settle time, so a glance at mail does not thrash a task.
//!
//! This module decides *whether* to yield ([`Verdict`]); `node/` decides
//! what that does to the tasks held. [`watch`] reads the rules
//! ([`engine`]); each source has its own module: [`quiet`] hours, [`x11`]
//! activity and full screen, the system D-Bus ([`bus`]: battery, logind's
//! idle hint), [`procs`] (exclusive apps, the agent's own processes) and
//! the [`gpu`] rules.

pub mod bus;
pub mod engine;
pub mod gpu;
pub mod procs;
pub mod quiet;
pub mod x11;

pub use engine::{Probes, watch};

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What yielding does to a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YieldAction {
    /// The task is frozen (container paused, process stopped): fast to undo,
    /// but its GPU memory stays held.
    #[default]
    Freeze,
    /// The task gets SIGTERM and the grace period to write its checkpoint,
    /// is stopped and goes back to the hub's queue. Frees GPU memory.
    Release,
}

/// The person's rules, from flags, `GANTRY_…` variables and agent.toml.
#[derive(Debug, Clone, PartialEq)]
pub struct YieldSettings {
    /// Quiet hours (`--quiet-hours SPEC`, several allowed), as written.
    pub quiet_hours: Vec<String>,
    /// Yield while keyboard or mouse was used within this long (`--yield-when-active MINUTES`).
    pub when_active: Option<Duration>,
    /// Yield while the machine runs on battery (`--yield-on-battery`).
    pub on_battery: bool,
    /// Programs whose running makes the node yield (`--exclusive-app NAME`).
    pub exclusive_apps: Vec<String>,
    /// Yield GPU work above this GPU temperature, °C (`--yield-above-temp C`).
    pub above_temp_c: Option<u32>,
    /// Yield GPU work while a program that is not Gantry's computes on a GPU
    /// (or draws with a gibibyte or more of its memory); on unless
    /// `--ignore-gpu-programs`.
    pub gpu_programs: bool,
    /// What yielding does (`--yield-action freeze|release`).
    pub action: YieldAction,
    /// How long a released task gets between SIGTERM and SIGKILL (`--yield-grace SECS`).
    pub grace: Duration,
    /// How long every rule must be clear before work comes back (`--settle SECS`).
    pub settle: Duration,
}

impl Default for YieldSettings {
    /// No rule but the GPU programs one; freeze; 10 s grace, 60 s settle.
    fn default() -> YieldSettings {
        YieldSettings {
            quiet_hours: Vec::new(),
            when_active: None,
            on_battery: false,
            exclusive_apps: Vec::new(),
            above_temp_c: None,
            gpu_programs: true,
            action: YieldAction::Freeze,
            grace: Duration::from_secs(10),
            settle: Duration::from_secs(60),
        }
    }
}

/// The decision: yield now, for this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Why, in the person's words: "you are using this computer",
    /// "blender uses the GPU", "on battery", "quiet hours until 18:00".
    pub reason: String,
    /// Only GPU work yields (a foreign GPU process, a hot GPU); tasks
    /// without GPUs keep running and are still taken.
    pub gpu_only: bool,
    /// What it does to the tasks it stops.
    pub action: YieldAction,
    /// Since when (Unix milliseconds).
    pub since: i64,
}

impl Verdict {
    /// As the heartbeat and the status carry it.
    pub fn report(&self) -> gantry_protocol::wire::Yielding {
        gantry_protocol::wire::Yielding {
            reason: self.reason.clone(),
            gpu_only: self.gpu_only,
            since: self.since,
        }
    }
}

#[cfg(test)]
mod tests;

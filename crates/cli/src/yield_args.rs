//! The yield rules' flags, shared by `gantry agent start` and `gantry
//! service install` (which writes them into the unit's command line).

use clap::Args;
use gantry_agent::config::YieldFlags;

use crate::agent_args::Words;

/// When the agent steps aside for the computer's person, and how. Each flag
/// also reads its GANTRY_ variable and agent.toml key.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct YieldArgs {
    /// Quiet hours, when no work runs: days and hours, e.g. "mon-fri 09:00-18:00"
    /// (days mon..sun as a range or a comma list; an end before the start
    /// crosses midnight; repeatable) [env: GANTRY_QUIET_HOURS, specs separated
    /// by `;`; agent.toml: quiet_hours = ["mon-fri 09:00-18:00"]].
    #[arg(long = "quiet-hours", value_name = "SPEC")]
    quiet_hours: Vec<String>,
    /// Step aside while the keyboard or mouse was used in the last MINUTES, or a
    /// full-screen window is open; 0 turns it off [env: GANTRY_YIELD_WHEN_ACTIVE;
    /// agent.toml: yield_when_active].
    #[arg(long, value_name = "MINUTES")]
    yield_when_active: Option<u64>,
    /// Step aside while the computer runs on battery (UPower) [env:
    /// GANTRY_YIELD_ON_BATTERY=1; agent.toml: yield_on_battery = true].
    #[arg(long)]
    yield_on_battery: bool,
    /// Step aside while a program of this name runs (repeatable) [env:
    /// GANTRY_EXCLUSIVE_APP, comma-separated; agent.toml: exclusive_app = ["blender"]].
    #[arg(long = "exclusive-app", value_name = "NAME")]
    exclusive_apps: Vec<String>,
    /// Stop GPU work while a GPU is hotter than C degrees Celsius [env:
    /// GANTRY_YIELD_ABOVE_TEMP; agent.toml: yield_above_temp].
    #[arg(long, value_name = "C")]
    yield_above_temp: Option<u32>,
    /// Do not stop GPU work for other programs using the GPU (by default a
    /// foreign compute process, or a graphics one holding 1 GiB or more, stops
    /// it) [env: GANTRY_IGNORE_GPU_PROGRAMS=1; agent.toml: ignore_gpu_programs].
    #[arg(long)]
    ignore_gpu_programs: bool,
    /// What stepping aside does: freeze (pause the tasks; GPU memory stays held)
    /// or release (SIGTERM, --yield-grace, SIGKILL; the task goes back to the
    /// queue) [env: GANTRY_YIELD_ACTION; agent.toml: yield_action; default: freeze].
    #[arg(long, value_name = "freeze|release")]
    yield_action: Option<String>,
    /// Seconds a released task gets between SIGTERM and SIGKILL to write its
    /// checkpoint [env: GANTRY_YIELD_GRACE; agent.toml: yield_grace; default: 10].
    #[arg(long, value_name = "SECS")]
    yield_grace: Option<u64>,
    /// Seconds every rule must be clear before work comes back [env:
    /// GANTRY_SETTLE; agent.toml: settle; default: 60].
    #[arg(long, value_name = "SECS")]
    settle: Option<u64>,
    /// Keep this GPU (nvidia-smi's index) for yourself: no task gets it
    /// (repeatable) [env: GANTRY_RESERVE_GPU, comma-separated; agent.toml:
    /// reserve_gpu = [0]].
    #[arg(long = "reserve-gpu", value_name = "INDEX")]
    reserve_gpus: Vec<u32>,
}

impl YieldArgs {
    /// As the agent's config layer takes them.
    pub fn into_flags(self) -> YieldFlags {
        YieldFlags {
            quiet_hours: self.quiet_hours,
            when_active: self.yield_when_active,
            on_battery: self.yield_on_battery,
            exclusive_apps: self.exclusive_apps,
            above_temp: self.yield_above_temp,
            ignore_gpu_programs: self.ignore_gpu_programs,
            action: self.yield_action,
            grace: self.yield_grace,
            settle: self.settle,
            reserve_gpus: self.reserve_gpus,
        }
    }

    /// The same flags as command-line words, for a service's unit.
    pub fn words(&self) -> Vec<String> {
        Words::default()
            .each("--quiet-hours", &self.quiet_hours)
            .value("--yield-when-active", self.yield_when_active)
            .each("--exclusive-app", &self.exclusive_apps)
            .value("--yield-above-temp", self.yield_above_temp)
            .value("--yield-action", self.yield_action.as_ref())
            .value("--yield-grace", self.yield_grace)
            .value("--settle", self.settle)
            .each("--reserve-gpu", &self.reserve_gpus)
            .switch("--yield-on-battery", self.yield_on_battery)
            .switch("--ignore-gpu-programs", self.ignore_gpu_programs)
            .done()
    }
}

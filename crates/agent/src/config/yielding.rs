//! The yield rules' settings through the layers (flag > environment >
//! agent.toml > default), each refused with a sentence naming where it was
//! written and what to write instead.

use std::time::Duration;

use super::{ConfigError, Flags, Layers};
use crate::yielding::quiet::QuietHours;
use crate::yielding::{YieldAction, YieldSettings};

/// The yield rules as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct YieldFlags {
    /// `--quiet-hours SPEC`, repeatable.
    pub quiet_hours: Vec<String>,
    /// `--yield-when-active MINUTES`.
    pub when_active: Option<u64>,
    /// `--yield-on-battery`.
    pub on_battery: bool,
    /// `--exclusive-app NAME`, repeatable.
    pub exclusive_apps: Vec<String>,
    /// `--yield-above-temp C`.
    pub above_temp: Option<u32>,
    /// `--ignore-gpu-programs`.
    pub ignore_gpu_programs: bool,
    /// `--yield-action freeze|release`.
    pub action: Option<String>,
    /// `--yield-grace SECS`.
    pub grace: Option<u64>,
    /// `--settle SECS`.
    pub settle: Option<u64>,
    /// `--reserve-gpu INDEX`, repeatable.
    pub reserve_gpus: Vec<u32>,
}

/// Where a value was written, for the error sentence: the flag, the
/// variable or the agent.toml key.
struct Source {
    flag: &'static str,
    var: &'static str,
    key: &'static str,
}

impl Source {
    /// "--settle 5m", "GANTRY_SETTLE=5m", "settle = 5m in agent.toml".
    fn written(&self, from: From, value: &str) -> String {
        match from {
            From::Flag => format!("{} {value}", self.flag),
            From::Env => format!("{}={value}", self.var),
            From::File => format!("{} = {value} in agent.toml", self.key),
        }
    }
}

#[derive(Clone, Copy)]
enum From {
    Flag,
    Env,
    File,
}

const QUIET: Source = Source {
    flag: "--quiet-hours",
    var: "GANTRY_QUIET_HOURS",
    key: "quiet_hours",
};
const ACTIVE: Source = Source {
    flag: "--yield-when-active",
    var: "GANTRY_YIELD_WHEN_ACTIVE",
    key: "yield_when_active",
};
const TEMP: Source = Source {
    flag: "--yield-above-temp",
    var: "GANTRY_YIELD_ABOVE_TEMP",
    key: "yield_above_temp",
};
const ACTION: Source = Source {
    flag: "--yield-action",
    var: "GANTRY_YIELD_ACTION",
    key: "yield_action",
};
const GRACE: Source = Source {
    flag: "--yield-grace",
    var: "GANTRY_YIELD_GRACE",
    key: "yield_grace",
};
const SETTLE: Source = Source {
    flag: "--settle",
    var: "GANTRY_SETTLE",
    key: "settle",
};
const RESERVE: Source = Source {
    flag: "--reserve-gpu",
    var: "GANTRY_RESERVE_GPU",
    key: "reserve_gpu",
};

/// The hottest limit that makes sense, °C.
const MAX_TEMP: u64 = 120;

impl Layers<'_> {
    /// The yield rules and the reserved GPUs.
    pub(super) fn yielding(&self, flags: &Flags) -> Result<(YieldSettings, Vec<u32>), ConfigError> {
        let f = &flags.yielding;
        let file = &self.file;
        let quiet_hours = self.list(&QUIET, f.quiet_hours.clone(), ';', file.quiet_hours.clone());
        for (from, spec) in &quiet_hours {
            QuietHours::parse(spec).map_err(|e| {
                ConfigError(format!(
                    "{}: {e}; write e.g. {} \"mon-fri 09:00-18:00\"",
                    QUIET.written(*from, &format!("\"{spec}\"")),
                    QUIET.flag
                ))
            })?;
        }
        let when_active = self
            .whole(
                &ACTIVE,
                f.when_active,
                file.yield_when_active,
                "10",
                60 * 24,
            )?
            .filter(|minutes| *minutes > 0)
            .map(|minutes| Duration::from_secs(minutes * 60));
        let above_temp_c = self
            .whole(
                &TEMP,
                f.above_temp.map(u64::from),
                file.yield_above_temp,
                "85",
                MAX_TEMP,
            )?
            .map(|c| c as u32);
        let settings = YieldSettings {
            quiet_hours: quiet_hours.into_iter().map(|(_, spec)| spec).collect(),
            when_active,
            on_battery: f.on_battery
                || self.boolean(&["GANTRY_YIELD_ON_BATTERY"], file.yield_on_battery, false)?,
            exclusive_apps: self
                .list(
                    &Source {
                        flag: "--exclusive-app",
                        var: "GANTRY_EXCLUSIVE_APP",
                        key: "exclusive_app",
                    },
                    f.exclusive_apps.clone(),
                    ',',
                    file.exclusive_app.clone(),
                )
                .into_iter()
                .map(|(_, app)| app)
                .collect(),
            above_temp_c,
            gpu_programs: !(f.ignore_gpu_programs
                || self.boolean(
                    &["GANTRY_IGNORE_GPU_PROGRAMS"],
                    file.ignore_gpu_programs,
                    false,
                )?),
            action: self.action(f.action.clone())?,
            grace: Duration::from_secs(
                self.whole(&GRACE, f.grace, file.yield_grace, "10", 3600)?
                    .unwrap_or(10),
            ),
            settle: Duration::from_secs(
                self.whole(&SETTLE, f.settle, file.settle, "60", 24 * 3600)?
                    .unwrap_or(60),
            ),
        };
        Ok((settings, self.reserve_gpus(f.reserve_gpus.clone())?))
    }

    /// A repeatable text setting: the flags, else the variable split at
    /// `separator`, else the file's list; empty entries dropped.
    fn list(
        &self,
        source: &Source,
        flags: Vec<String>,
        separator: char,
        file: Option<Vec<String>>,
    ) -> Vec<(From, String)> {
        let (from, values) = if !flags.is_empty() {
            (From::Flag, flags)
        } else if let Some((_, value)) = self.var(&[source.var]) {
            (
                From::Env,
                value.split(separator).map(str::to_owned).collect(),
            )
        } else {
            (From::File, file.unwrap_or_default())
        };
        values
            .into_iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| (from, v))
            .collect()
    }

    /// A whole number up to `max`, from the flag, the variable or the file.
    fn whole(
        &self,
        source: &Source,
        flag: Option<u64>,
        file: Option<u64>,
        example: &str,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        let (from, value) = match (flag, self.var(&[source.var])) {
            (Some(n), _) => (From::Flag, n),
            (None, Some((_, text))) => (
                From::Env,
                text.trim().parse().map_err(|_| {
                    ConfigError(format!(
                        "{} is not a whole number; write e.g. {}={example}",
                        source.written(From::Env, &text),
                        source.var
                    ))
                })?,
            ),
            (None, None) => match file {
                Some(n) => (From::File, n),
                None => return Ok(None),
            },
        };
        if value > max {
            return Err(ConfigError(format!(
                "{} is more than {max}; write e.g. {} {example}",
                source.written(from, &value.to_string()),
                source.flag
            )));
        }
        Ok(Some(value))
    }

    fn action(&self, flag: Option<String>) -> Result<YieldAction, ConfigError> {
        let (from, text) = match (flag, self.var(&[ACTION.var])) {
            (Some(text), _) => (From::Flag, text),
            (None, Some((_, text))) => (From::Env, text),
            (None, None) => match &self.file.yield_action {
                Some(text) => (From::File, text.clone()),
                None => return Ok(YieldAction::default()),
            },
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "freeze" => Ok(YieldAction::Freeze),
            "release" => Ok(YieldAction::Release),
            _ => Err(ConfigError(format!(
                "{} is not an action; write freeze (pause the task, keeping its GPU memory) \
                 or release (stop it after --yield-grace and queue it again, freeing the GPU)",
                ACTION.written(from, &text)
            ))),
        }
    }

    fn reserve_gpus(&self, flags: Vec<u32>) -> Result<Vec<u32>, ConfigError> {
        let mut gpus = if !flags.is_empty() {
            flags
        } else if let Some((_, text)) = self.var(&[RESERVE.var]) {
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse().map_err(|_| {
                        ConfigError(format!(
                            "{}: {s} is not a GPU index; write the indices nvidia-smi shows, \
                             e.g. {}=0 or {}=0,1",
                            RESERVE.written(From::Env, &text),
                            RESERVE.var,
                            RESERVE.var
                        ))
                    })
                })
                .collect::<Result<Vec<u32>, _>>()?
        } else {
            self.file.reserve_gpu.clone().unwrap_or_default()
        };
        gpus.sort_unstable();
        gpus.dedup();
        Ok(gpus)
    }
}

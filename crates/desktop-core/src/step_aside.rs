//! "When to step aside": the person's yield rules as the Settings screen
//! edits them and `desktop.json` keeps them, and the words the tray and the
//! Overview say while the agent yields.
//!
//! The fields carry the agent's own names (the agent.toml keys
//! `yield_when_active`, `yield_on_battery`, `quiet_hours`, `exclusive_app`,
//! `yield_above_temp`, `yield_action`, `yield_grace`, `settle`,
//! `reserve_gpu`), so a person moving from the app to the headless agent
//! finds them again. The rules fill the agent's
//! [`YieldSettings`](gantry_agent::yielding::YieldSettings) and
//! `reserve_gpus` where the environment and agent.toml leave the defaults.

use std::time::Duration;

use gantry_agent::yielding::{YieldAction, YieldSettings};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What yielding does to the tasks it stops, as the screen chooses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Freeze them: fast to undo, GPU memory stays held.
    #[default]
    Freeze,
    /// Stop them after the grace period and give them back to the queue:
    /// frees GPU memory.
    Release,
}

/// The person's rules for stepping aside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct StepAside {
    /// Yield while keyboard or mouse were used in the last this many
    /// minutes (or a window is full screen); `None`: never.
    pub yield_when_active: Option<u32>,
    /// Yield while the computer runs on battery.
    pub yield_on_battery: bool,
    /// Quiet hours, each as `mon-fri 09:00-18:00`.
    pub quiet_hours: Vec<String>,
    /// Programs (by name) whose running makes the node yield.
    pub exclusive_app: Vec<String>,
    /// Keep GPU work running when another program uses the GPU
    /// (`ignore_gpu_programs`); by default such a program stops it.
    pub ignore_gpu_programs: bool,
    /// Yield GPU work above this GPU temperature (°C); `None`: never.
    pub yield_above_temp: Option<u32>,
    /// What yielding does.
    pub yield_action: StepAction,
    /// Seconds a released task gets to write its checkpoint.
    pub yield_grace: u32,
    /// Seconds every rule must stay clear before work comes back.
    pub settle: u32,
    /// GPUs (by index) kept for the person: no task gets them.
    pub reserve_gpu: Vec<u32>,
    /// Show a notification when the agent starts stepping aside.
    pub notify: bool,
}

/// The longest grace and settle the screen takes: a day.
const LONGEST_SECS: u32 = 86_400;

impl StepAside {
    /// The rules the agent runs with now (`notify` is the app's own).
    pub fn of(settings: &YieldSettings, reserve_gpus: &[u32], notify: bool) -> StepAside {
        StepAside {
            yield_when_active: settings
                .when_active
                .map(|d| u32::try_from(d.as_secs().div_ceil(60)).unwrap_or(u32::MAX)),
            yield_on_battery: settings.on_battery,
            quiet_hours: settings.quiet_hours.clone(),
            exclusive_app: settings.exclusive_apps.clone(),
            ignore_gpu_programs: !settings.gpu_programs,
            yield_above_temp: settings.above_temp_c,
            yield_action: match settings.action {
                YieldAction::Freeze => StepAction::Freeze,
                YieldAction::Release => StepAction::Release,
            },
            yield_grace: u32::try_from(settings.grace.as_secs()).unwrap_or(u32::MAX),
            settle: u32::try_from(settings.settle.as_secs()).unwrap_or(u32::MAX),
            reserve_gpu: reserve_gpus.to_vec(),
            notify,
        }
    }

    /// The agent's settings for these rules.
    pub fn yield_settings(&self) -> YieldSettings {
        YieldSettings {
            quiet_hours: self.quiet_hours.clone(),
            when_active: self
                .yield_when_active
                .map(|m| Duration::from_secs(u64::from(m) * 60)),
            on_battery: self.yield_on_battery,
            exclusive_apps: self.exclusive_app.clone(),
            gpu_programs: !self.ignore_gpu_programs,
            above_temp_c: self.yield_above_temp,
            action: match self.yield_action {
                StepAction::Freeze => YieldAction::Freeze,
                StepAction::Release => YieldAction::Release,
            },
            grace: Duration::from_secs(u64::from(self.yield_grace)),
            settle: Duration::from_secs(u64::from(self.settle)),
        }
    }

    /// The rules tidied (blank entries dropped, names trimmed, GPUs sorted
    /// once each), or a sentence saying what to fix.
    pub fn checked(mut self) -> Result<StepAside, String> {
        self.quiet_hours = tidy(self.quiet_hours);
        self.exclusive_app = tidy(self.exclusive_app);
        for spec in &self.quiet_hours {
            check_quiet_hours(spec)?;
        }
        if let Some(bad) = self.exclusive_app.iter().find(|a| a.contains('/')) {
            return Err(format!(
                "\"{bad}\" is a path; give the program's name only, e.g. blender"
            ));
        }
        if self.yield_when_active == Some(0) {
            return Err("\"When I use this computer\" needs 1 minute or more".into());
        }
        if let Some(c) = self.yield_above_temp
            && !(40..=110).contains(&c)
        {
            return Err(format!(
                "A GPU temperature of {c} °C is out of range; give one from 40 to 110 °C"
            ));
        }
        if self.yield_grace > LONGEST_SECS || self.settle > LONGEST_SECS {
            return Err("The grace and settle times are at most 86400 seconds (a day)".into());
        }
        self.reserve_gpu.sort_unstable();
        self.reserve_gpu.dedup();
        Ok(self)
    }
}

fn tidy(entries: Vec<String>) -> Vec<String> {
    entries
        .into_iter()
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|e| !e.is_empty())
        .collect()
}

/// Checks a quiet-hours spec with the agent's own parser, so the screen
/// says what to fix before the agent restarts with it.
pub fn check_quiet_hours(spec: &str) -> Result<(), String> {
    gantry_agent::yielding::quiet::QuietHours::parse(spec)
        .map(drop)
        .map_err(|error| format!("Quiet hours \"{spec}\": {error}"))
}

/// What the tray and the Overview say while the agent yields, from the
/// agent's reason ("you are using this computer", "blender uses the GPU",
/// "on battery", "quiet hours until 18:00").
pub fn yield_line(reason: &str) -> String {
    let reason = reason.trim();
    match reason {
        "you are using this computer" => "Paused while you use this computer".to_owned(),
        "on battery" => "Paused on battery".to_owned(),
        _ if reason.starts_with("quiet hours") => format!("Paused for {reason}"),
        _ => format!("Paused · {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_read_as_the_tray_says_them() {
        assert_eq!(
            yield_line("you are using this computer"),
            "Paused while you use this computer"
        );
        assert_eq!(
            yield_line("blender uses the GPU"),
            "Paused · blender uses the GPU"
        );
        assert_eq!(yield_line("on battery"), "Paused on battery");
        assert_eq!(
            yield_line("quiet hours until 18:00"),
            "Paused for quiet hours until 18:00"
        );
    }

    #[test]
    fn quiet_hours_are_checked_with_what_to_fix() {
        for good in [
            "mon-fri 09:00-18:00",
            "mon-sun 00:00-24:00",
            "sat,sun 22:00-07:30",
            "Wed 12:00-13:00",
        ] {
            assert_eq!(check_quiet_hours(good), Ok(()), "{good}");
        }
        for (bad, words) in [
            ("mon-fri", "write the days, a space and the hours"),
            ("mon-fry 09:00-18:00", "fry is not a day"),
            ("mon-fri 09:00", "not a span of hours"),
            ("mon-fri 09:00-25:00", "HH:MM"),
            ("mon-fri 24:00-08:00", "cannot start at 24:00"),
        ] {
            let error = check_quiet_hours(bad).unwrap_err();
            assert!(error.contains(words), "{bad}: {error}");
            assert!(
                error.starts_with(&format!("Quiet hours \"{bad}\"")),
                "{error}"
            );
        }
    }

    #[test]
    fn rules_round_trip_through_the_agent_settings() {
        let rules = StepAside {
            yield_when_active: Some(5),
            yield_on_battery: true,
            quiet_hours: vec!["mon-fri 09:00-18:00".into()],
            exclusive_app: vec!["blender".into()],
            ignore_gpu_programs: true,
            yield_above_temp: Some(85),
            yield_action: StepAction::Release,
            yield_grace: 10,
            settle: 30,
            reserve_gpu: vec![0],
            notify: true,
        };
        let agent = rules.yield_settings();
        assert_eq!(agent.when_active, Some(Duration::from_secs(300)));
        assert_eq!(agent.action, YieldAction::Release);
        assert!(!agent.gpu_programs);
        assert_eq!(StepAside::of(&agent, &[0], true), rules);
    }

    #[test]
    fn bad_rules_say_what_to_fix_and_blank_entries_go() {
        let tidy = StepAside {
            quiet_hours: vec!["  ".into(), "mon-fri  09:00-18:00".into()],
            exclusive_app: vec![" blender ".into(), String::new()],
            reserve_gpu: vec![1, 0, 1],
            ..StepAside::default()
        }
        .checked()
        .unwrap();
        assert_eq!(tidy.quiet_hours, ["mon-fri 09:00-18:00"]);
        assert_eq!(tidy.exclusive_app, ["blender"]);
        assert_eq!(tidy.reserve_gpu, [0, 1]);
        let path = StepAside {
            exclusive_app: vec!["/usr/bin/blender".into()],
            ..StepAside::default()
        };
        assert!(path.checked().unwrap_err().contains("program's name"));
        let hot = StepAside {
            yield_above_temp: Some(300),
            ..StepAside::default()
        };
        assert!(hot.checked().unwrap_err().contains("40 to 110"));
        let never = StepAside {
            yield_when_active: Some(0),
            ..StepAside::default()
        };
        assert!(never.checked().unwrap_err().contains("1 minute"));
    }
}

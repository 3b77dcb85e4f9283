//! The disk budget's settings through the layers (flag > environment >
//! agent.toml > default): `--disk-max-gb`, `--disk-max-percent`,
//! `--disk-min-free-gb` and `--disk-evict-unsynced-results`. A bad value is
//! refused with a sentence naming where it was written and what to write.
//!
//! The sizes take decimals (`0.5` is 500 MB), so a small disk, or a test,
//! can set a small budget; `0` for a size leaves that number out.

use super::{ConfigError, Layers};
use crate::disk::DiskBudget;

/// The disk budget as the command line gave it.
#[derive(Debug, Clone, Default)]
pub struct DiskFlags {
    /// `--disk-max-gb N`: at most N GB used by Gantry.
    pub max_gb: Option<f64>,
    /// `--disk-max-percent N`: at most N % of the disk used by Gantry.
    pub max_percent: Option<f64>,
    /// `--disk-min-free-gb N`: at least N GB left free.
    pub min_free_gb: Option<f64>,
    /// `--disk-evict-unsynced-results`: kept results the hub has not got may go too.
    pub evict_unsynced_results: bool,
}

/// One number's names in each layer, for the error sentence.
struct Number {
    flag: &'static str,
    var: &'static str,
    key: &'static str,
    example: &'static str,
}

const MAX_GB: Number = Number {
    flag: "--disk-max-gb",
    var: "GANTRY_DISK_MAX_GB",
    key: "disk_max_gb",
    example: "100",
};
const MAX_PERCENT: Number = Number {
    flag: "--disk-max-percent",
    var: "GANTRY_DISK_MAX_PERCENT",
    key: "disk_max_percent",
    example: "50",
};
const MIN_FREE_GB: Number = Number {
    flag: "--disk-min-free-gb",
    var: "GANTRY_DISK_MIN_FREE_GB",
    key: "disk_min_free_gb",
    example: "10",
};

const GB: f64 = 1e9;

impl Layers<'_> {
    /// The budget, and whether kept results the hub has not got may be evicted.
    pub(super) fn disk(&self, flags: &DiskFlags) -> Result<(DiskBudget, bool), ConfigError> {
        let defaults = DiskBudget::default();
        let file = &self.file;
        let bytes = |gb: f64| (gb > 0.0).then(|| (gb * GB).round() as u64);
        let max_bytes = match self.decimal(&MAX_GB, flags.max_gb, file.disk_max_gb)? {
            Some(gb) => bytes(gb),
            None => defaults.max_bytes,
        };
        let max_percent = match self.decimal(
            &MAX_PERCENT,
            flags.max_percent,
            file.disk_max_percent,
        )? {
            Some(percent) if percent > 100.0 => {
                return Err(ConfigError(format!(
                    "the disk's share is {percent} %, more than 100 %; write e.g. {} 50 (or 0 to leave it out)",
                    MAX_PERCENT.flag
                )));
            }
            Some(percent) => (percent > 0.0).then(|| percent.round() as u8),
            None => defaults.max_percent,
        };
        let min_free_bytes =
            match self.decimal(&MIN_FREE_GB, flags.min_free_gb, file.disk_min_free_gb)? {
                Some(gb) => bytes(gb),
                None => defaults.min_free_bytes,
            };
        let evict_unsynced = flags.evict_unsynced_results
            || self.boolean(
                &["GANTRY_DISK_EVICT_UNSYNCED_RESULTS"],
                file.disk_evict_unsynced_results,
                false,
            )?;
        Ok((
            DiskBudget {
                max_bytes,
                max_percent,
                min_free_bytes,
            },
            evict_unsynced,
        ))
    }

    /// A number of zero or more (decimals allowed) from the flag, the variable or the file.
    fn decimal(
        &self,
        number: &Number,
        flag: Option<f64>,
        file: Option<f64>,
    ) -> Result<Option<f64>, ConfigError> {
        let (value, written) = match (flag, self.var(&[number.var])) {
            (Some(n), _) => (n, format!("{} {n}", number.flag)),
            (None, Some((_, text))) => {
                let written = format!("{}={text}", number.var);
                let parsed = text.trim().parse::<f64>().map_err(|_| {
                    ConfigError(format!(
                        "{written} is not a number; write e.g. {}={}",
                        number.var, number.example
                    ))
                })?;
                (parsed, written)
            }
            (None, None) => match file {
                Some(n) => (n, format!("{} = {n} in agent.toml", number.key)),
                None => return Ok(None),
            },
        };
        if !value.is_finite() || value < 0.0 {
            return Err(ConfigError(format!(
                "{written} is not a size Gantry can keep to; write a number of zero or more, e.g. {} {} \
                 (0 leaves this number out)",
                number.flag, number.example
            )));
        }
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::{AgentConfig, Flags};
    use super::*;

    fn resolve(
        flags: Flags,
        vars: &[(&str, &str)],
        file: &str,
    ) -> Result<AgentConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, file).unwrap();
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AgentConfig::resolve(
            Flags {
                no_hostname_label: true,
                ..flags
            },
            &|name| vars.get(name).cloned(),
            Some(path),
        )
    }

    #[test]
    fn flag_beats_variable_beats_file_and_defaults_stay() {
        let config = resolve(Flags::default(), &[], "").unwrap();
        assert_eq!(config.disk, DiskBudget::default());
        assert!(!config.disk_evict_unsynced_results);

        let file = "disk_max_gb = 20.5\ndisk_max_percent = 30\ndisk_min_free_gb = 0\n\
                    disk_evict_unsynced_results = true\n";
        let config = resolve(Flags::default(), &[], file).unwrap();
        assert_eq!(config.disk.max_bytes, Some(20_500_000_000));
        assert_eq!(config.disk.max_percent, Some(30));
        assert_eq!(config.disk.min_free_bytes, None);
        assert!(config.disk_evict_unsynced_results);

        let config = resolve(Flags::default(), &[("GANTRY_DISK_MAX_GB", "0.05")], file).unwrap();
        assert_eq!(config.disk.max_bytes, Some(50_000_000));

        let flags = Flags {
            disk: DiskFlags {
                max_gb: Some(7.0),
                ..DiskFlags::default()
            },
            ..Flags::default()
        };
        let config = resolve(flags, &[("GANTRY_DISK_MAX_GB", "0.05")], file).unwrap();
        assert_eq!(config.disk.max_bytes, Some(7_000_000_000));
    }

    #[test]
    fn bad_values_say_where_they_were_written() {
        let error = resolve(Flags::default(), &[("GANTRY_DISK_MAX_GB", "lots")], "").unwrap_err();
        assert!(
            error.0.contains("GANTRY_DISK_MAX_GB=lots is not a number"),
            "{error}"
        );
        let error = resolve(Flags::default(), &[], "disk_min_free_gb = -3\n").unwrap_err();
        assert!(
            error.0.contains("disk_min_free_gb = -3 in agent.toml"),
            "{error}"
        );
        let flags = Flags {
            disk: DiskFlags {
                max_percent: Some(150.0),
                ..DiskFlags::default()
            },
            ..Flags::default()
        };
        let error = resolve(flags, &[], "").unwrap_err();
        assert!(error.0.contains("more than 100 %"), "{error}");
    }
}

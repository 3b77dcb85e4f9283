//! The timeouts file that `DEFAULT_TIMEOUTS=false` loads, as the Supervisely
//! agent loads `timeouts_for_stateless.json` in place of its built-in
//! timeouts.
//!
//! Why a file of its own: a site tunes the agent's patience (a slow Docker
//! engine, long jobs with no timeout of their own) in one place that can be
//! shipped beside the agent, without touching the other settings. The file is
//! JSON, like the seed's, with these keys, each seconds (`3600`) or a
//! duration (`"1h"`):
//!
//! - `task`: the timeout of a task whose job sets none (the built-in: none);
//! - `docker_api_call`: one Docker API call (DOCKER_API_CALL_TIMEOUT, 60 s);
//! - `stop_grace`: from SIGTERM to SIGKILL when a task is stopped (10 s);
//! - `epilogue`: each epilogue command (30 min).
//!
//! A key left out keeps the built-in value; an unknown key is refused with
//! the known ones, so a typo never passes silently. A setting given on its
//! own (DOCKER_API_CALL_TIMEOUT, GANTRY_STOP_GRACE, or its agent.toml key)
//! still wins over the file.

use std::path::Path;
use std::time::Duration;

use gantry_protocol::units::Seconds;
use serde::Deserialize;

use crate::config::ConfigError;

/// The keys of a timeouts file, for its documentation and its errors.
pub const KEYS: &[&str] = &["task", "docker_api_call", "stop_grace", "epilogue"];

/// The built-in time an epilogue command may take.
pub const EPILOGUE_DEFAULT: Duration = Duration::from_secs(30 * 60);

/// What a timeouts file sets; `None` keeps the built-in value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// The timeout of a task whose job sets none.
    pub task: Option<Seconds>,
    /// One Docker API call.
    pub docker_api_call: Option<Seconds>,
    /// From SIGTERM to SIGKILL.
    pub stop_grace: Option<Seconds>,
    /// Each epilogue command.
    pub epilogue: Option<Seconds>,
}

impl Timeouts {
    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> Result<Timeouts, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read the timeouts file {}: {e}",
                path.display()
            ))
        })?;
        Timeouts::parse(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Parses a timeouts file's text; the error names the key and what to write.
    pub fn parse(text: &str) -> Result<Timeouts, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let timeouts: Timeouts = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            format!(
                "{at}{inner}; a timeouts file is a JSON object whose keys are {} with seconds (3600) or a duration (\"1h\"), e.g. {{\"task\": \"2h\", \"docker_api_call\": 120}}",
                KEYS.join(", ")
            )
        })?;
        // stop_grace may be 0 (kill at once), as GANTRY_STOP_GRACE may.
        for (key, value) in [
            ("task", timeouts.task),
            ("docker_api_call", timeouts.docker_api_call),
            ("epilogue", timeouts.epilogue),
        ] {
            if value == Some(Seconds(0)) {
                return Err(format!(
                    "{key}: 0 seconds is no time at all; leave the key out for the built-in value, or write e.g. \"10m\""
                ));
            }
        }
        Ok(timeouts)
    }

    /// A key as a `Duration`.
    pub fn duration(value: Option<Seconds>) -> Option<Duration> {
        value.map(|s| Duration::from_secs(s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_in_seconds_or_words() {
        let t = Timeouts::parse(
            r#"{"task": "2h", "docker_api_call": 120, "stop_grace": "30s", "epilogue": 60}"#,
        )
        .unwrap();
        assert_eq!(t.task, Some(Seconds(7200)));
        assert_eq!(t.docker_api_call, Some(Seconds(120)));
        assert_eq!(t.stop_grace, Some(Seconds(30)));
        assert_eq!(t.epilogue, Some(Seconds(60)));
        assert_eq!(Timeouts::parse("{}").unwrap(), Timeouts::default());
    }

    #[test]
    fn default_timeouts_false_applies_the_file_under_explicit_settings() {
        use crate::config::{AgentConfig, Flags};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("timeouts.json");
        std::fs::write(
            &file,
            r#"{"task": "1h", "docker_api_call": 7, "stop_grace": 3, "epilogue": "5m"}"#,
        )
        .unwrap();
        let resolve = |env: &[(&str, &str)]| {
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            AgentConfig::resolve(
                Flags {
                    timeouts_file: Some(file.clone()),
                    no_hostname_label: true,
                    ..Flags::default()
                },
                &move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
                None,
            )
        };
        let config = resolve(&[("DEFAULT_TIMEOUTS", "false")]).unwrap();
        assert_eq!(config.task_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(config.docker_api_call_timeout, Duration::from_secs(7));
        assert_eq!(config.stop_grace, Duration::from_secs(3));
        assert_eq!(config.epilogue_timeout, Duration::from_secs(300));
        // A setting given on its own wins over the file.
        let config = resolve(&[
            ("DEFAULT_TIMEOUTS", "false"),
            ("DOCKER_API_CALL_TIMEOUT", "9"),
        ])
        .unwrap();
        assert_eq!(config.docker_api_call_timeout, Duration::from_secs(9));
        // With the built-in timeouts, naming a file is a mistake said aloud.
        let err = resolve(&[]).unwrap_err().to_string();
        assert!(err.contains("DEFAULT_TIMEOUTS is true"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = Timeouts::parse(r#"{"tsak": 5}"#).unwrap_err();
        assert!(err.contains("unknown field `tsak`"), "{err}");
        assert!(
            err.contains("task, docker_api_call, stop_grace, epilogue"),
            "{err}"
        );
        let err = Timeouts::parse(r#"{"task": "soon"}"#).unwrap_err();
        assert!(err.starts_with("task: "), "{err}");
        let err = Timeouts::parse(r#"{"epilogue": 0}"#).unwrap_err();
        assert!(err.starts_with("epilogue: 0 seconds"), "{err}");
        let err = Timeouts::parse("task = 5").unwrap_err();
        assert!(err.contains("JSON object"), "{err}");
    }
}

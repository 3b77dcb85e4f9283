//! The agent's configuration inside the app: the environment and
//! `agent.toml` first, as for the headless agent, then the app's settings
//! where those leave the default.
//!
//! The order lets tests and power users point the app at another hub and
//! host dir without touching `desktop.json`; a field the environment or the
//! file sets is reported as locked, and the Settings screen shows it
//! read-only.

use std::path::PathBuf;

use gantry_agent::config::{AgentConfig, Flags, default_config_file};

use crate::settings::Settings;

/// The agent's configuration: environment and agent.toml first, then the
/// app's settings where those leave the default.
pub fn resolve(settings: &Settings) -> anyhow::Result<AgentConfig> {
    Ok(layered(settings)?.0)
}

/// The configuration, and the names of the Settings fields that the
/// environment or agent.toml fix (the Settings screen shows them read-only).
pub fn layered(settings: &Settings) -> anyhow::Result<(AgentConfig, Vec<String>)> {
    layer(
        settings,
        &|name| std::env::var(name).ok(),
        default_config_file(),
    )
}

/// [`layered`] with the environment and config file given.
fn layer(
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<(AgentConfig, Vec<String>)> {
    let mut config = AgentConfig::resolve(Flags::default(), env, file)?;
    // What the agent would use with no environment and no file: a field that
    // differs from it was set by one of them.
    let plain = AgentConfig::resolve(Flags::default(), &|_| None, None)?;
    let mut locked = Vec::new();
    macro_rules! layer {
        ($field:ident, $setting:expr) => {
            if config.$field != plain.$field {
                locked.push(stringify!($field).to_owned());
            } else if let Some(value) = $setting {
                config.$field = value;
            }
        };
    }
    layer!(host_dir, settings.host_dir.clone());
    layer!(name, settings.name.clone());
    layer!(labels, settings.labels.clone());
    layer!(max_tasks, settings.max_tasks);
    layer!(ca_file, settings.ca_file.clone().map(Some));
    layer!(allow_insecure_http, settings.allow_insecure_http);
    layer!(with_local_storage, settings.with_local_storage);
    layer!(
        delete_task_dir_on_finish,
        settings.delete_task_dir_on_finish
    );
    layer!(
        delete_task_dir_on_failure,
        settings.delete_task_dir_on_failure
    );
    let rules = settings.step_aside.as_ref();
    layer!(yielding, rules.map(|r| r.yield_settings()));
    layer!(reserve_gpus, rules.map(|r| r.reserve_gpu.clone()));
    layer!(
        image_policy,
        settings.image_policy.as_ref().and_then(|c| c.policy().ok())
    );
    layer!(disk, settings.disk.map(|d| d.budget()));
    layer!(
        disk_evict_unsynced_results,
        settings.disk.map(|d| d.disk_evict_unsynced_results)
    );
    // A choice that no longer passes the checks (desktop.json edited by
    // hand) leaves the agent's default, as for the image policy.
    layer!(
        hardening,
        settings
            .task_isolation
            .clone()
            .and_then(|t| t.checked().ok())
            .map(|t| t.hardening())
    );
    Ok((config, locked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_fill_what_the_environment_leaves() {
        let settings = Settings {
            name: Some("desk".into()),
            max_tasks: Some(3),
            with_local_storage: Some(true),
            ..Settings::default()
        };
        let env = |name: &str| (name == "GANTRY_MAX_TASKS").then(|| "5".to_owned());
        let (config, locked) = layer(&settings, &env, None).unwrap();
        assert_eq!(config.name, "desk");
        assert!(config.with_local_storage);
        assert_eq!(config.max_tasks, 5, "the environment wins");
        assert_eq!(locked, ["max_tasks"]);
        let (config, locked) = layer(&Settings::default(), &|_| None, None).unwrap();
        assert!(locked.is_empty());
        assert_eq!(config.max_tasks, 1);
    }

    #[test]
    fn task_isolation_reaches_the_agent_unless_the_environment_sets_it() {
        use crate::task_isolation::{NetworkChoice, TaskIsolation};
        use gantry_agent::docker::hardening::TaskNetwork;
        let settings = Settings {
            task_isolation: Some(TaskIsolation {
                task_network: NetworkChoice::None,
                read_only_root: true,
                task_pids_limit: 256,
                ..TaskIsolation::default()
            }),
            ..Settings::default()
        };
        let (config, locked) = layer(&settings, &|_| None, None).unwrap();
        assert_eq!(config.hardening.network, TaskNetwork::None);
        assert!(config.hardening.read_only_root);
        assert_eq!(config.hardening.pids_limit, 256);
        assert!(locked.is_empty());
        // Any one of the four set by the environment fixes the section.
        let env = |name: &str| (name == "GANTRY_READ_ONLY_ROOT").then(|| "1".to_owned());
        let (config, locked) = layer(&settings, &env, None).unwrap();
        assert_eq!(
            config.hardening.network,
            TaskNetwork::Full,
            "the environment's"
        );
        assert_eq!(locked, ["hardening"]);
        // A kept choice the checks refuse (edited by hand) is not used.
        let bad = Settings {
            task_isolation: Some(TaskIsolation {
                task_pids_limit: 3,
                ..TaskIsolation::default()
            }),
            ..Settings::default()
        };
        let (config, _) = layer(&bad, &|_| None, None).unwrap();
        assert_eq!(config.hardening, Default::default());
    }
}

//! The app's own choices, kept between runs: which hub (or local mode), the
//! storage folder, and which notifications to show. Nothing secret: the token
//! lives in the keychain.
//!
//! The agent's configuration (environment, `agent.toml`) comes first: a
//! setting here only fills what those leave at their default, so tests and
//! power users can point the app at another hub and host dir.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::view::UiError;

/// Where the agent's tasks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A hub elsewhere, with a node token from the keychain.
    Remote,
    /// A hub inside the app, on loopback ("Use this computer only").
    Local,
}

/// Which notifications show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyKinds {
    /// A task succeeded.
    pub succeeded: bool,
    /// A task failed (or was lost).
    pub failed: bool,
    /// A task was canceled.
    pub canceled: bool,
}

impl From<NotifyKinds> for crate::view::Notifications {
    fn from(kinds: NotifyKinds) -> Self {
        crate::view::Notifications {
            succeeded: kinds.succeeded,
            failed: kinds.failed,
            canceled: kinds.canceled,
        }
    }
}

impl From<crate::view::Notifications> for NotifyKinds {
    fn from(view: crate::view::Notifications) -> Self {
        NotifyKinds {
            succeeded: view.succeeded,
            failed: view.failed,
            canceled: view.canceled,
        }
    }
}

impl Default for NotifyKinds {
    fn default() -> NotifyKinds {
        NotifyKinds {
            succeeded: true,
            failed: true,
            canceled: true,
        }
    }
}

/// The file `desktop.json` beside the agent's `agent.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Chosen in the wizard; `None` until then.
    pub mode: Option<Mode>,
    /// The hub's address, in remote mode.
    pub server: Option<String>,
    /// The storage folder, when the person changed it.
    pub host_dir: Option<PathBuf>,
    /// Notifications per kind.
    pub notify: NotifyKinds,
    /// The node's name, when changed in Settings.
    pub name: Option<String>,
    /// Labels added to the hub's, when set in Settings.
    pub labels: Option<Vec<String>>,
    /// How many tasks run at once, when set in Settings.
    pub max_tasks: Option<usize>,
    /// WITH_LOCAL_STORAGE, when set in Settings.
    pub with_local_storage: Option<bool>,
    /// DELETE_TASK_DIR_ON_FINISH, when set in Settings.
    pub delete_task_dir_on_finish: Option<bool>,
    /// DELETE_TASK_DIR_ON_FAILURE, when set in Settings.
    pub delete_task_dir_on_failure: Option<bool>,
    /// A CA certificate file (PEM) trusted besides the system's, for a hub
    /// whose certificate the team's own CA made (wizard and Settings).
    pub ca_file: Option<PathBuf>,
    /// The person allowed sending the node token over plain http to a hub
    /// that is not this computer (the wizard's checkbox).
    pub allow_insecure_http: Option<bool>,
    /// The update server's manifest URL (Settings' "Update server"); `None`
    /// keeps updates off: no request is made.
    pub update_endpoint: Option<String>,
    /// "When to step aside" (yield rules and GPUs kept for the person),
    /// when set in Settings.
    pub step_aside: Option<crate::step_aside::StepAside>,
    /// "Which images may run here", when chosen in the wizard or Settings.
    pub image_policy: Option<crate::image_policy::ImageChoice>,
    /// The disk budget's numbers and the kept-results switch, when set in Settings.
    pub disk: Option<crate::disk_budget::DiskSettings>,
    /// "Task isolation" (network, read-only root, pids limit), when set in Settings.
    pub task_isolation: Option<crate::task_isolation::TaskIsolation>,
}

/// The variable that sets the update server over `update_endpoint`.
pub const UPDATE_ENDPOINT_VAR: &str = "GANTRY_UPDATE_ENDPOINT";

impl Settings {
    /// The default file: `$XDG_CONFIG_HOME/gantry/desktop.json`.
    pub fn default_path() -> PathBuf {
        gantry_agent::config::default_config_file()
            .and_then(|file| file.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("desktop.json")
    }

    /// Reads the file; a missing file is the defaults, an unreadable one an
    /// error that names it.
    pub fn load(path: &Path) -> anyhow::Result<Settings> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                anyhow::anyhow!(
                    "{} is not valid ({error}); fix it or delete it to run the setup again",
                    path.display()
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(error) => Err(anyhow::anyhow!("cannot read {}: {error}", path.display())),
        }
    }

    /// The update server, and whether the environment fixes it: a non-empty
    /// `GANTRY_UPDATE_ENDPOINT` wins over the settings (like the agent's
    /// fields, which the environment locks).
    pub fn update_endpoint(&self, env: &dyn Fn(&str) -> Option<String>) -> (Option<String>, bool) {
        match env(UPDATE_ENDPOINT_VAR).filter(|v| !v.trim().is_empty()) {
            Some(endpoint) => (Some(endpoint.trim().to_owned()), true),
            None => (
                self.update_endpoint
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
                false,
            ),
        }
    }

    /// Writes the file whole (a temp file renamed over it).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, path)
    }
}

/// `desktop.json` and the settings read from it, behind one lock: each
/// change is written to the file at once.
#[derive(Debug)]
pub struct SettingsFile {
    path: PathBuf,
    now: Mutex<Settings>,
}

impl SettingsFile {
    /// The settings `now`, read from (and saved to) the file at `path`.
    pub fn new(path: PathBuf, now: Settings) -> SettingsFile {
        SettingsFile {
            path,
            now: Mutex::new(now),
        }
    }

    /// The settings now.
    pub fn get(&self) -> Settings {
        self.now.lock().expect("settings poisoned").clone()
    }

    /// Changes the settings and saves them; the settings after the change.
    /// A file that cannot be written is an error for the UI (the change is
    /// kept in memory all the same).
    pub fn update(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, UiError> {
        let mut settings = self.now.lock().expect("settings poisoned");
        change(&mut settings);
        settings.save(&self.path).map_err(|e| {
            UiError::new(
                "settings",
                format!("cannot save {}: {e}", self.path.display()),
            )
        })?;
        Ok(settings.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gantry/desktop.json");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let settings = Settings {
            mode: Some(Mode::Remote),
            server: Some("https://hub.example.com".into()),
            host_dir: None,
            notify: NotifyKinds {
                succeeded: false,
                ..NotifyKinds::default()
            },
            max_tasks: Some(3),
            labels: Some(vec!["gpu=4090".into()]),
            ..Settings::default()
        };
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), settings);
        std::fs::write(&path, "{ not json").unwrap();
        let error = Settings::load(&path).unwrap_err().to_string();
        assert!(error.contains("desktop.json is not valid"), "{error}");
    }

    #[test]
    fn the_environment_fixes_the_update_server() {
        let settings = Settings {
            update_endpoint: Some(" https://updates.example.com/latest.json ".into()),
            ..Settings::default()
        };
        assert_eq!(
            settings.update_endpoint(&|_| None),
            (
                Some("https://updates.example.com/latest.json".into()),
                false
            )
        );
        let env = |name: &str| {
            (name == UPDATE_ENDPOINT_VAR)
                .then(|| "https://mirror.example.org/{{target}}".to_owned())
        };
        assert_eq!(
            settings.update_endpoint(&env),
            (Some("https://mirror.example.org/{{target}}".into()), true),
            "the environment wins and locks the field"
        );
        let empty = |_: &str| Some(String::new());
        assert!(!settings.update_endpoint(&empty).1, "empty is unset");
        assert_eq!(
            Settings::default().update_endpoint(&|_| None),
            (None, false)
        );
    }
}

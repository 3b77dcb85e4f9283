//! The Settings screen's answers: the node's fields (the environment and
//! `agent.toml` locking the ones they set), saving them (the agent restarts
//! to use them; running containers go on and are picked up again), a new
//! token, which notifications show, and the update server.
//!
//! The name is the node's name at its hub, so that the field is true: with a
//! hub elsewhere it is the hub's, shown read-only (its admin renames it); in
//! local mode saving a new name renames the node at the embedded hub.

use std::path::PathBuf;
use std::sync::Arc;

use gantry_client::Token;
use gantry_protocol::admin::NodeChange;
use gantry_protocol::wire::codes;

use super::Desktop;
use crate::settings::Mode;
use crate::step_aside::StepAside;
use crate::view::{NodeSettings, NodeSettingsChange, Notifications, UiError};

/// What the Settings screen says under the name when a hub elsewhere names
/// this computer: only the hub's admin renames a node there.
const REMOTE_NAME_NOTE: &str = "The hub names this computer; its admin renames it with gantry node rename. A new name shows here within a heartbeat.";

impl Desktop {
    /// The Settings screen's fields.
    pub fn node_settings(&self, launch_at_login: bool) -> Result<NodeSettings, UiError> {
        let settings = self.settings();
        let (config, locked) = crate::config::layered(&settings)
            .map_err(|e| UiError::new("config", format!("{e:#}")))?;
        let running = self.agent.get();
        let local = running.as_ref().is_some_and(|r| r.local);
        let remote = !local && settings.mode != Some(Mode::Local);
        let at_hub = running.as_ref().and_then(|r| r.agent.status().node);
        Ok(NodeSettings {
            mode: settings.mode.map(|m| {
                match m {
                    Mode::Remote => "remote",
                    Mode::Local => "local",
                }
                .to_owned()
            }),
            server: if local {
                None
            } else {
                config.server.clone().or(settings.server)
            },
            token_saved: running.is_some(),
            ca_file: config.ca_file.as_ref().map(|p| p.display().to_string()),
            name: at_hub.unwrap_or(config.name),
            name_note: remote.then(|| REMOTE_NAME_NOTE.to_owned()),
            labels: config.labels,
            max_tasks: u32::try_from(config.max_tasks).unwrap_or(u32::MAX),
            host_dir: config.host_dir.display().to_string(),
            with_local_storage: config.with_local_storage,
            delete_task_dir_on_finish: config.delete_task_dir_on_finish,
            delete_task_dir_on_failure: config.delete_task_dir_on_failure,
            notifications: settings.notify.into(),
            launch_at_login,
            step_aside: StepAside::of(
                &config.yielding,
                &config.reserve_gpus,
                settings.step_aside.as_ref().is_some_and(|s| s.notify),
            ),
            image_policy: crate::image_policy::ImageChoice::of(&config.image_policy),
            task_isolation: crate::task_isolation::TaskIsolation::of(&config.hardening),
            locked,
        })
    }

    /// Keeps the Settings screen's fields and restarts the agent with them
    /// (running containers go on and are picked up again).
    pub async fn save_node_settings(
        self: &Arc<Desktop>,
        change: NodeSettingsChange,
    ) -> Result<(), UiError> {
        let name = change.name.trim().to_owned();
        if name.is_empty() {
            return Err(UiError::new("bad_setting", "Give this computer a name"));
        }
        let shown = self.node_settings(false)?;
        if shown.name_note.is_some() && name != shown.name {
            return Err(UiError::new("bad_setting", REMOTE_NAME_NOTE));
        }
        if change.max_tasks == 0 {
            return Err(UiError::new(
                "bad_setting",
                "Max concurrent tasks must be 1 or more",
            ));
        }
        let labels: Vec<String> = change
            .labels
            .iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        if let Some(bad) = labels.iter().find(|l| l.chars().any(char::is_whitespace)) {
            return Err(UiError::new(
                "bad_setting",
                format!(
                    "The label \"{bad}\" has a space in it; write labels as key=value or one word"
                ),
            ));
        }
        let host_dir = PathBuf::from(change.host_dir.trim());
        if !host_dir.is_absolute() {
            return Err(UiError::new(
                "bad_setting",
                "The storage folder must be a full path, e.g. /home/you/gantry",
            ));
        }
        if host_dir != self.host_dir() && !self.status.borrow().tasks.is_empty() {
            // Their records and spools live in the old folder: an agent in a
            // new one would not pick them up.
            return Err(UiError::new(
                "bad_setting",
                "Tasks are running in the current storage folder: let them finish (or cancel them) before moving it",
            ));
        }
        if shown.name_note.is_none() && name != shown.name {
            self.rename_at_local_hub(&shown.name, &name).await?;
        }
        let keep_name = shown.name_note.is_none();
        self.settings.update(|s| {
            if keep_name {
                s.name = Some(name);
            }
            s.labels = Some(labels);
            s.max_tasks = Some(change.max_tasks as usize);
            s.host_dir = Some(host_dir);
            s.with_local_storage = Some(change.with_local_storage);
            s.delete_task_dir_on_finish = Some(change.delete_task_dir_on_finish);
            s.delete_task_dir_on_failure = Some(change.delete_task_dir_on_failure);
        })?;
        self.restart().await
    }

    /// Local mode: renames this computer's node at the embedded hub, so its
    /// tasks' history follows it and the next start finds it by the new name.
    async fn rename_at_local_hub(&self, old: &str, new: &str) -> Result<(), UiError> {
        let Some(admin) = self.agent.admin() else {
            // No hub runs (the agent failed): the next start makes the node by its new name.
            return Ok(());
        };
        let change = NodeChange {
            name: Some(new.to_owned()),
            ..NodeChange::default()
        };
        match admin.change_node(old, &change).await {
            Ok(_) => Ok(()),
            // Not made yet under that name at this hub: the next start makes it.
            Err(error) if error.code() == Some(codes::NOT_FOUND) => Ok(()),
            Err(error) => Err(UiError::new("bad_setting", error.to_string())),
        }
    }

    /// Checks a new token against the hub now in use, keeps it in the
    /// keychain, and restarts the agent with it.
    pub async fn replace_token(self: &Arc<Desktop>, token: String) -> Result<(), UiError> {
        let settings = self.settings();
        let server = crate::config::resolve(&settings)
            .ok()
            .and_then(|c| c.server)
            .or(settings.server.clone())
            .filter(|_| settings.mode != Some(Mode::Local))
            .ok_or_else(|| {
                UiError::new(
                    "not_remote",
                    "This computer is not connected to a hub; there is no token to replace",
                )
            })?;
        let hub = super::wizard::HubTrust {
            ca_file: settings.ca_file.clone(),
            allow_insecure_http: settings.allow_insecure_http.unwrap_or(false),
        };
        self.connect(server, token, None, hub).await
    }

    /// Keeps the CA file trusted besides the system's roots (`None`: the
    /// system's only) after checking it is a PEM certificate, and restarts
    /// the agent with it.
    pub async fn set_ca_file(self: &Arc<Desktop>, ca_file: Option<String>) -> Result<(), UiError> {
        let ca_file = ca_file
            .map(|path| path.trim().to_owned())
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        if let Some(path) = &ca_file {
            if !path.is_absolute() {
                return Err(UiError::new(
                    "bad_setting",
                    "The CA file must be a full path, e.g. /home/you/team-ca.pem",
                ));
            }
            // Building a client reads and parses it: a wrong file is said now.
            let trust = gantry_client::Trust::with_ca_file(Some(path.clone()));
            gantry_client::HubClient::with_trust("https://localhost", Token::new(""), &trust)
                .map_err(|e| UiError::new("ca_file", e.to_string()))?;
        }
        self.settings.update(|s| s.ca_file = ca_file)?;
        self.restart().await
    }

    /// Keeps the "When to step aside" rules and restarts the agent with
    /// them (running containers go on and are picked up again). Rules the
    /// environment or agent.toml fix are refused with what to change.
    pub async fn save_step_aside(self: &Arc<Desktop>, rules: StepAside) -> Result<(), UiError> {
        let rules = rules
            .checked()
            .map_err(|message| UiError::new("bad_setting", message))?;
        let (_, locked) = crate::config::layered(&self.settings())
            .map_err(|e| UiError::new("config", format!("{e:#}")))?;
        if locked
            .iter()
            .any(|l| l == "yielding" || l == "reserve_gpus")
        {
            return Err(UiError::new(
                "bad_setting",
                "The environment or agent.toml sets these rules; change them there (e.g. quiet_hours in ~/.config/gantry/agent.toml)",
            ));
        }
        self.settings.update(|s| s.step_aside = Some(rules))?;
        self.restart().await
    }

    /// Keeps which notifications show.
    pub fn set_notifications(&self, notifications: Notifications) -> Result<(), UiError> {
        self.settings
            .update(|s| s.notify = notifications.into())
            .map(|_| ())
    }

    /// Keeps the update server (`None`: updates off). Only desktop.json
    /// changes: the agent goes on as it is.
    pub fn set_update_endpoint(&self, endpoint: Option<String>) -> Result<(), UiError> {
        self.settings
            .update(|s| s.update_endpoint = endpoint)
            .map(|_| ())
    }
}

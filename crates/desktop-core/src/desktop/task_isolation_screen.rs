//! Saving Settings' "Task isolation" (network, read-only root, pids limit).

use std::sync::Arc;

use super::Desktop;
use crate::task_isolation::TaskIsolation;
use crate::view::UiError;

/// What the screen says when the environment or agent.toml already set how
/// tasks are isolated.
const LOCKED: &str = "The environment or agent.toml sets how tasks are isolated; change it there \
     (GANTRY_TASK_NETWORK, GANTRY_TASK_NETWORK_ALLOW, GANTRY_READ_ONLY_ROOT, GANTRY_TASK_PIDS_LIMIT, \
     or task_network, task_network_allow, read_only_root, task_pids_limit in \
     ~/.config/gantry/agent.toml)";

impl Desktop {
    /// Keeps the task isolation and restarts the agent with it (running
    /// containers go on as they were made; new ones get it). Settings the
    /// environment or agent.toml fix are refused with where to change them.
    pub async fn save_task_isolation(
        self: &Arc<Desktop>,
        isolation: TaskIsolation,
    ) -> Result<(), UiError> {
        let isolation = isolation
            .checked()
            .map_err(|message| UiError::new("bad_setting", message))?;
        let (_, locked) = crate::config::layered(&self.settings())
            .map_err(|e| UiError::new("config", format!("{e:#}")))?;
        if locked.iter().any(|l| l == "hardening") {
            return Err(UiError::new("bad_setting", LOCKED));
        }
        self.settings
            .update(|s| s.task_isolation = Some(isolation))?;
        if self.agent.get().is_some() {
            self.restart().await
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use crate::task_isolation::NetworkChoice;

    #[tokio::test]
    async fn a_saved_choice_is_kept_shown_and_a_bad_one_said() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desktop.json");
        let desktop = Desktop::new(path.clone(), Settings::default());
        let shown = desktop.node_settings(false).unwrap();
        assert_eq!(shown.task_isolation, TaskIsolation::default());

        let refused = desktop
            .save_task_isolation(TaskIsolation {
                task_network: NetworkChoice::Full,
                task_network_allow: vec!["192.168.1.0/24".into()],
                ..TaskIsolation::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code, "bad_setting");
        assert!(
            refused.message.contains("choose it, or empty the list"),
            "{}",
            refused.message
        );
        assert!(!path.exists(), "nothing kept");

        let chosen = TaskIsolation {
            task_network: NetworkChoice::None,
            task_network_allow: Vec::new(),
            read_only_root: true,
            task_pids_limit: 512,
        };
        desktop.save_task_isolation(chosen.clone()).await.unwrap();
        let kept: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            kept["task_isolation"],
            serde_json::json!({
                "task_network": "none",
                "task_network_allow": [],
                "read_only_root": true,
                "task_pids_limit": 512,
            })
        );
        // What the agent would run with now, as the screen shows it.
        assert_eq!(desktop.node_settings(false).unwrap().task_isolation, chosen);
        assert_eq!(
            Settings::load(&path).unwrap().task_isolation,
            Some(chosen),
            "desktop.json reads back"
        );
    }
}

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
    ///
    /// A choice the agent cannot start with (`no-private` where the app may
    /// not set firewall rules) is not kept: the previous one is put back, in
    /// `desktop.json` too, the agent restarts with it, and the answer says
    /// the choice was not kept and the agent's reason.
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
        let previous = self.settings().task_isolation;
        self.settings
            .update(|s| s.task_isolation = Some(isolation))?;
        if self.agent.get().is_none() {
            return Ok(());
        }
        // One restart for the window, however many it takes: the status
        // does not read "not set up" in between.
        let restarting = self.agent.begin_restart();
        let refused = match self.restart_quietly().await {
            // Saved, Gantry not set up yet: nothing ran with it to refuse it.
            Err(error) if error.code != "not_set_up" => error,
            answer => {
                drop(restarting);
                self.settle(&answer);
                return answer;
            }
        };
        tracing::warn!(reason = %refused.message, "the agent refused the task isolation; the previous one is put back");
        let back = match self.settings.update(|s| s.task_isolation = previous) {
            Ok(_) => self.restart_quietly().await,
            Err(error) => Err(error),
        };
        drop(restarting);
        self.settle(&back);
        Err(not_kept(&refused, back.err()))
    }
}

/// The answer to a choice the agent refused: not kept, and why; and, should
/// going back to the previous choice fail too, that too.
fn not_kept(refused: &UiError, back: Option<UiError>) -> UiError {
    let reason = refused.message.trim_end_matches('.');
    let message = match back {
        None => format!(
            "Not kept: the agent cannot run tasks with this isolation ({reason}). \
             It goes on with the previous choice."
        ),
        Some(also) => format!(
            "Not kept: the agent cannot run tasks with this isolation ({reason}). \
             Going back to the previous choice failed too: {}",
            also.message
        ),
    };
    UiError::new("isolation_refused", message)
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

    #[test]
    fn a_refused_choice_says_not_kept_with_the_agents_reason() {
        let refused = UiError::new(
            "agent",
            "--task-network no-private could not set its firewall rule: it needs root (or CAP_NET_ADMIN).",
        );
        let said = not_kept(&refused, None);
        assert_eq!(said.code, "isolation_refused");
        assert!(said.message.starts_with("Not kept:"), "{}", said.message);
        assert!(
            said.message.contains("needs root (or CAP_NET_ADMIN))"),
            "{}",
            said.message
        );
        assert!(
            said.message.ends_with("goes on with the previous choice."),
            "{}",
            said.message
        );
        let both = not_kept(&refused, Some(UiError::new("agent", "Docker is gone")));
        assert!(
            both.message.ends_with("failed too: Docker is gone"),
            "{}",
            both.message
        );
    }
}

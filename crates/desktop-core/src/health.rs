//! Settings → Health: `gantry doctor`'s checks ([`gantry_agent::doctor`])
//! for the app's own agent, plus the one only the app has: the keychain
//! that keeps the node token. The wizard's quick checks (Docker, GPU) are
//! the same library's, turned into its [`crate::view::Check`]s.
//!
//! The checks judge the setup the app's agent runs with: the settings
//! layered under the environment and agent.toml ([`crate::config`]), the
//! token from the keychain, and in local mode the embedded hub the agent
//! talks to. The token is never in what the screen is sent.

use gantry_agent::config::{Flags, default_config_file};
use gantry_agent::doctor::{self, Check, Setup, Status};
use gantry_agent::host::LocalHub;
use serde::Serialize;
use ts_rs::TS;

use crate::Desktop;
use crate::keychain;
use crate::settings::Mode;
use crate::view::Connection;

/// One check as Settings → Health shows it (`gantry doctor --json`'s
/// `{name, status, message, fix}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HealthCheck {
    /// A stable name (`docker`, `keychain`, …): the row's `health-<name>`.
    pub name: String,
    /// `ok`, `warning` or `failure`.
    pub status: HealthStatus,
    /// What was found, in a sentence.
    pub message: String,
    /// What to do, in a sentence; empty when nothing is to be done.
    pub fix: String,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Nothing to do.
    Ok,
    /// Tasks run, but something may bite later.
    Warning,
    /// Tasks will fail until this is fixed.
    Failure,
}

impl From<Check> for HealthCheck {
    fn from(check: Check) -> HealthCheck {
        HealthCheck {
            name: check.name,
            status: match check.status {
                Status::Ok => HealthStatus::Ok,
                Status::Warning => HealthStatus::Warning,
                Status::Failure => HealthStatus::Failure,
            },
            message: check.message,
            fix: check.fix,
        }
    }
}

impl Desktop {
    /// Every check, in `gantry doctor`'s order with the keychain before the
    /// control socket.
    pub async fn health(&self) -> Vec<HealthCheck> {
        let settings = self.settings();
        let local_mode = self.status().connection == Connection::Local;
        let mut setup = match crate::config::resolve(&settings) {
            Ok(config) => Setup::from_config(&config),
            Err(error) => Setup {
                config_problem: Some(format!("{error:#}")),
                ..Setup::resolve(
                    Flags::default(),
                    &|name| std::env::var(name).ok(),
                    default_config_file(),
                )
            },
        };
        let keychain_needed = setup.token.is_none() && settings.mode == Some(Mode::Remote);
        let mut keychain = keychain_check(keychain_needed).await;
        // Local mode: the agent talks to the app's own hub (its address in
        // `local-hub.json`), with that hub's node token.
        let local = local_mode
            .then(|| LocalHub::read(&setup.host_dir).ok().flatten())
            .flatten()
            .map(|hub| hub.server);
        if let Some(server) = &local {
            setup.server = Some(server.clone());
        } else if setup.server.is_none() {
            setup.server = settings.server.clone();
        }
        if keychain_needed
            && keychain.status == Status::Ok
            && let Some(server) = setup.server.clone()
        {
            match tokio::task::spawn_blocking(move || keychain::load(&server)).await {
                Ok(Ok(token)) => setup.token = token,
                Ok(Err(error)) => keychain = keychain_failure(error.to_string()),
                Err(error) => keychain = keychain_failure(error.to_string()),
            }
        }
        let mut checks = doctor::run(&setup).await;
        if let Some(hub) = checks.iter_mut().find(|c| c.name == "hub")
            && local.is_some()
            && hub.status == Status::Warning
        {
            // Local mode: the agent holds the embedded hub's own token.
            *hub = Check::ok(
                "hub",
                format!(
                    "local mode: the app's own hub answers at {}",
                    setup.server.as_deref().unwrap_or_default()
                ),
            );
        }
        let at = checks.len().saturating_sub(1);
        checks.insert(at, keychain);
        checks.into_iter().map(HealthCheck::from).collect()
    }
}

/// The `keychain` check: whether the system keychain can keep the token;
/// a problem is a failure where the token lives there (remote mode, and
/// the wizard, which is about to keep one), a warning elsewhere.
pub(crate) async fn keychain_check(needed: bool) -> Check {
    match tokio::task::spawn_blocking(keychain::check).await {
        Ok(Ok(())) => Check::ok(
            "keychain",
            "the system keychain answers and can keep the node token",
        ),
        Ok(Err(error)) if needed => keychain_failure(error.to_string()),
        Ok(Err(error)) => Check::warning(
            "keychain",
            format!(
                "the system keychain cannot be used ({error}); this setup does not need it now"
            ),
            "start a keyring (GNOME Keyring or KWallet) before connecting to a hub with a token",
        ),
        Err(error) => keychain_failure(error.to_string()),
    }
}

fn keychain_failure(error: String) -> Check {
    Check::failure(
        "keychain",
        format!("the node token cannot be read from the system keychain: {error}"),
        "unlock or start the keyring (GNOME Keyring or KWallet), then check again; \
         the agent needs the token to reach the hub",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn health_is_the_doctors_checks_and_the_keychain() {
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::new(
            dir.path().join("desktop.json"),
            crate::settings::Settings {
                host_dir: Some(dir.path().join("agent")),
                ..crate::settings::Settings::default()
            },
        );
        let checks = desktop.health().await;
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        let mut expected: Vec<&str> = doctor::CHECKS.to_vec();
        expected.insert(expected.len() - 1, "keychain");
        assert_eq!(names, expected);
        let socket = checks.iter().find(|c| c.name == "control-socket").unwrap();
        assert_eq!(socket.status, HealthStatus::Warning, "{socket:?}");
        assert!(
            socket
                .message
                .contains(&dir.path().join("agent").display().to_string()),
            "{socket:?}"
        );
        let json = serde_json::to_value(&checks[0]).unwrap();
        assert!(
            ["ok", "warning", "failure"].contains(&json["status"].as_str().unwrap()),
            "{json}"
        );
    }

    /// Local mode: the app's own hub and agent, checked as they run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_local_mode_the_embedded_hub_and_the_running_agent_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::new(
            dir.path().join("desktop.json"),
            crate::settings::Settings {
                host_dir: Some(dir.path().join("agent")),
                ..crate::settings::Settings::default()
            },
        );
        desktop.use_local(None).await.unwrap();
        let socket = dir.path().join("agent/agent.sock");
        let mut checks = Vec::new();
        for _ in 0..100 {
            checks = desktop.health().await;
            let socket_ok = checks
                .iter()
                .any(|c| c.name == "control-socket" && c.status == HealthStatus::Ok);
            if socket_ok {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let find = |name: &str| checks.iter().find(|c| c.name == name).unwrap().clone();
        let hub = find("hub");
        assert_eq!(hub.status, HealthStatus::Ok, "{hub:?}");
        assert!(
            hub.message
                .starts_with("local mode: the app's own hub answers at http://127.0.0.1:"),
            "{hub:?}"
        );
        let agent = find("control-socket");
        assert_eq!(agent.status, HealthStatus::Ok, "{agent:?}");
        assert!(
            agent.message.contains(&socket.display().to_string()),
            "{agent:?}"
        );
        assert_eq!(find("clock").status, HealthStatus::Ok);
        desktop
            .shutdown(true, std::time::Duration::from_secs(10))
            .await;
    }

    #[test]
    fn statuses_are_written_as_words() {
        let json =
            serde_json::to_value(HealthCheck::from(Check::failure("tls", "m", "f"))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "tls", "status": "failure", "message": "m", "fix": "f"})
        );
    }
}

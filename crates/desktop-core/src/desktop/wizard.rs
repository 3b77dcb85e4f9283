//! The setup wizard's answers: what this computer offers (the keychain,
//! Docker, NVIDIA GPUs) and its two choices: a hub elsewhere with a node
//! token, or local mode.
//!
//! A hub and token are checked before anything is kept, and each way the
//! check fails has its own code and sentence, so the wizard can say what to
//! fix (the address, the token, the kind of token, the certificate). The
//! check trusts the CA file the person gave, as the agent then does, and a
//! token is not sent over plain http to another computer unless the person
//! ticked that the network is trusted: the headless agent's rule.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_agent::config::{AgentConfig, default_host_dir};
use gantry_agent::doctor;
use gantry_client::{ClientError, HubClient, Token, Trust};

use super::Desktop;
use crate::keychain;
use crate::settings::Mode;
use crate::view::{Check, Setup, UiError};

impl Desktop {
    /// What the wizard shows.
    pub async fn setup(&self) -> Setup {
        let settings = self.settings.get();
        let config = crate::config::resolve(&settings).ok();
        let host_dir = config
            .as_ref()
            .map(|c| c.host_dir.clone())
            .unwrap_or_else(default_host_dir);
        let server = config
            .as_ref()
            .and_then(|c| c.server.clone())
            .or(settings.server.clone());
        let keychain = keychain_check().await;
        let docker_host = config.as_ref().and_then(|c| c.docker_host.clone());
        let docker = docker_check(docker_host.as_deref()).await;
        let gpu = gpu_check(&host_dir).await;
        let needs_setup = !self.agent.is_running();
        let reason = self.failure.revoked();
        Setup {
            needs_setup,
            server,
            host_dir: host_dir.display().to_string(),
            keychain,
            docker,
            gpu,
            launch_at_login: false,
            notifications: settings.notify.into(),
            problem: self.failure().filter(|_| reason.is_none()),
            reason,
            ca_file: config
                .as_ref()
                .and_then(|c| c.ca_file.clone())
                .or(settings.ca_file)
                .map(|p| p.display().to_string()),
            allow_insecure_http: settings.allow_insecure_http.unwrap_or(false),
        }
    }

    /// Checks `token` against the hub at `server` (trusting `ca_file` too),
    /// keeps it in the keychain, remembers the choice and starts the agent.
    pub async fn connect(
        self: &Arc<Desktop>,
        server: String,
        token: String,
        host_dir: Option<PathBuf>,
        hub: HubTrust,
    ) -> Result<(), UiError> {
        let server = server.trim().trim_end_matches('/').to_owned();
        if server.is_empty() {
            return Err(UiError::new(
                "bad_address",
                "Enter the hub's address, e.g. https://hub.example.com",
            ));
        }
        let token = Token::new(token);
        if token.expose().is_empty() {
            return Err(UiError::new(
                "wrong_token",
                "Paste the node token your hub's admin gave you (it starts with gantry_node_)",
            ));
        }
        refuse_in_clear(&server, &hub)?;
        check_hub(&server, &token, &Trust::with_ca_file(hub.ca_file.clone())).await?;
        let (save_server, save_token) = (server.clone(), token.clone());
        tokio::task::spawn_blocking(move || keychain::save(&save_server, &save_token))
            .await
            .map_err(|e| UiError::new("keychain", e.to_string()))?
            .map_err(|e| UiError::new("keychain", e.to_string()))?;
        let settings = self.settings.update(|s| {
            s.mode = Some(Mode::Remote);
            s.server = Some(server.clone());
            s.ca_file = hub.ca_file.clone();
            s.allow_insecure_http = Some(hub.allow_insecure_http);
            if host_dir.is_some() {
                s.host_dir = host_dir.clone();
            }
        })?;
        let config =
            crate::config::resolve(&settings).map_err(|e| UiError::new("config", e.to_string()))?;
        self.stop_agent().await;
        self.start_agent(
            AgentConfig {
                server: Some(server),
                token: Some(token),
                ca_file: hub.ca_file,
                allow_insecure_http: hub.allow_insecure_http,
                ..config
            },
            None,
        )
        .await
    }

    /// Local mode: starts the embedded hub and the agent on it.
    pub async fn use_local(self: &Arc<Desktop>, host_dir: Option<PathBuf>) -> Result<(), UiError> {
        let settings = self.settings.update(|s| {
            s.mode = Some(Mode::Local);
            if host_dir.is_some() {
                s.host_dir = host_dir.clone();
            }
        })?;
        let config =
            crate::config::resolve(&settings).map_err(|e| UiError::new("config", e.to_string()))?;
        self.stop_agent().await;
        self.start_local(config).await
    }
}

/// How the wizard may reach a hub: the CA file it trusts besides the
/// system's, and whether plain http to another computer was allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubTrust {
    /// A CA certificate file (PEM), e.g. the team's own CA.
    pub ca_file: Option<PathBuf>,
    /// The person ticked that the network is trusted.
    pub allow_insecure_http: bool,
}

/// The headless agent's rule, in the wizard's words: no node token over
/// plain http to another computer unless the person allowed it.
fn refuse_in_clear(server: &str, hub: &HubTrust) -> Result<(), UiError> {
    if hub.allow_insecure_http || !gantry_client::in_clear(server) {
        return Ok(());
    }
    Err(UiError::new(
        "insecure_http",
        format!(
            "{server} would receive the node token in clear (plain http), where anyone on the network between \
             can read it. Use the hub's https:// address, or tick \"Allow plain http\" if this network is trusted."
        ),
    ))
}

/// Whether the OS keychain can keep the token: Health's keychain check.
async fn keychain_check() -> Check {
    wizard_check(crate::health::keychain_check(true).await)
}

/// A `gantry doctor` check in the wizard's shape: ready only when ok.
fn wizard_check(check: doctor::Check) -> Check {
    Check {
        ok: check.status == doctor::Status::Ok,
        summary: check.message,
        guidance: (!check.fix.is_empty()).then_some(check.fix),
    }
}

/// Whether the Docker engine at `docker_host` (the default one when `None`)
/// answers: `gantry doctor`'s docker check ([`doctor::engine`]), in the
/// wizard's words.
async fn docker_check(docker_host: Option<&str>) -> Check {
    let at = doctor::engine::address(docker_host);
    let facts = doctor::engine::connect(&at, Duration::from_secs(5)).await;
    let mut check = wizard_check(doctor::engine::docker(&at, &facts));
    if let Some(fix) = &mut check.guidance {
        fix.push_str(
            ". On Debian or Ubuntu: sudo apt install docker.io, then sudo usermod -aG docker $USER and log in again.",
        );
    }
    check
}

/// Checks that `server` is a Gantry hub that knows `token` as a node token,
/// trusting `trust`'s CA file besides the system's roots.
pub(super) async fn check_hub(server: &str, token: &Token, trust: &Trust) -> Result<(), UiError> {
    let client = HubClient::with_trust(server, token.clone(), trust).map_err(client_error)?;
    client.check_node_token().await.map_err(client_error)
}

/// The wizard's words for a failed check of the hub and token.
fn client_error(error: ClientError) -> UiError {
    let message = error.to_string();
    let code = match &error {
        ClientError::BadAddress(_) => "bad_address",
        ClientError::Unreachable { .. } | ClientError::Timeout { .. } => "unreachable",
        ClientError::Tls { .. } => "tls",
        ClientError::CaFile { .. } => "ca_file",
        ClientError::NotAHub { .. } | ClientError::Protocol { .. } => "wrong_address",
        ClientError::Api { status: 401, .. } => {
            return UiError::new(
                "wrong_token",
                "The hub does not know this token. Check that you pasted the whole node token (it starts with gantry_node_), \
                 or ask the hub's admin for a new one (gantry hub node add NAME).",
            );
        }
        ClientError::Api { status: 403, .. } => {
            return UiError::new(
                "wrong_kind",
                "This is not a node token (an admin token, perhaps). Paste the node token made for this computer with gantry hub node add NAME.",
            );
        }
        ClientError::Api { status: 404, .. } => "wrong_address",
        _ => "hub_error",
    };
    UiError::new(code, message)
}

/// Whether NVML sees NVIDIA GPUs, measured for the host dir: `gantry
/// doctor`'s driver check ([`doctor::nvidia`]), ready only with a GPU.
async fn gpu_check(host_dir: &std::path::Path) -> Check {
    let driver = doctor::nvidia::driver(host_dir).await;
    Check {
        ok: driver.has_gpus,
        summary: driver.check.message,
        guidance: (!driver.has_gpus).then(|| {
            if driver.check.fix.is_empty() {
                "Tasks that need no GPU still run. For GPU tasks, install the NVIDIA driver and the NVIDIA Container Toolkit, then restart Gantry.".to_owned()
            } else {
                driver.check.fix
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// A real hub on a free port, with a node token and an admin token.
    async fn hub() -> (String, String, String, tempfile::TempDir, CancellationToken) {
        let dir = tempfile::tempdir().unwrap();
        let hub = gantry_hub::Hub::open(
            dir.path(),
            None,
            gantry_hub::HubConfig::default(),
            Arc::new(gantry_hub::SystemClock),
        )
        .await
        .unwrap();
        let node = hub.db().add_node("desk", &[], hub.now()).await.unwrap();
        let admin = hub.db().create_admin_token("me", hub.now()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(gantry_hub::serve(
            listener,
            hub,
            stop.clone().cancelled_owned(),
        ));
        (url, node, admin, dir, stop)
    }

    async fn code(server: &str, token: &str) -> String {
        match check_hub(server, &Token::new(token), &Trust::system()).await {
            Ok(()) => "ok".into(),
            Err(error) => {
                assert!(!error.message.is_empty());
                error.code
            }
        }
    }

    #[tokio::test]
    async fn the_wizard_tells_each_failure_apart() {
        let (url, node, admin, _dir, stop) = hub().await;
        assert_eq!(code(&url, &node).await, "ok");
        assert_eq!(
            code(&format!("{url}/"), &node).await,
            "ok",
            "a trailing slash is fine"
        );
        assert_eq!(code(&url, "gantry_node_nonsense").await, "wrong_token");
        assert_eq!(code(&url, &admin).await, "wrong_kind");
        assert_eq!(code("hub.example.com", &node).await, "bad_address");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(
            code(&format!("http://127.0.0.1:{port}"), &node).await,
            "unreachable"
        );
        assert_eq!(
            code(&url.replace("http://", "https://"), &node).await,
            "tls"
        );
        assert_eq!(
            code(&format!("{url}/not/the/hub"), &node).await,
            "wrong_address"
        );
        // Something that answers HTTP but is not a hub.
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other_url = format!("http://{}", other.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = other.accept().await {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\n\r\nhello")
                    .await;
            }
        });
        assert_eq!(code(&other_url, &node).await, "wrong_address");
        stop.cancel();
    }

    #[test]
    fn plain_http_to_another_computer_needs_the_persons_consent() {
        let refused = refuse_in_clear("http://10.0.0.2:8750", &HubTrust::default()).unwrap_err();
        assert_eq!(refused.code, "insecure_http");
        assert!(
            refused
                .message
                .contains("http://10.0.0.2:8750 would receive the node token in clear")
        );
        let allowed = HubTrust {
            allow_insecure_http: true,
            ..HubTrust::default()
        };
        assert!(refuse_in_clear("http://10.0.0.2:8750", &allowed).is_ok());
        assert!(refuse_in_clear("http://127.0.0.1:8750", &HubTrust::default()).is_ok());
        assert!(refuse_in_clear("https://10.0.0.2:8750", &HubTrust::default()).is_ok());
    }

    /// The check trusts the CA file the person gave, as the agent will.
    #[tokio::test]
    async fn the_check_against_a_tls_hub_uses_the_ca_file() {
        use gantry_testkit::tls::TestCa;
        let dir = tempfile::tempdir().unwrap();
        let hub = gantry_hub::Hub::open(
            dir.path(),
            None,
            gantry_hub::HubConfig::default(),
            Arc::new(gantry_hub::SystemClock),
        )
        .await
        .unwrap();
        let node = Token::new(hub.db().add_node("desk", &[], hub.now()).await.unwrap());
        let ca = TestCa::new("team CA");
        let (ca_file, cert, key) = (
            dir.path().join("ca.pem"),
            dir.path().join("hub.pem"),
            dir.path().join("hub.key"),
        );
        ca.write(&ca_file);
        ca.server(&["127.0.0.1"], 1).write(&cert, &key);
        let served =
            gantry_hub::tls::ServerCert::load(gantry_hub::tls::TlsFiles { cert, key }).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let serving = tokio::spawn(gantry_hub::tls::serve_tls(
            listener,
            hub,
            Arc::new(served),
            stop.clone().cancelled_owned(),
        ));
        let with_ca = Trust::with_ca_file(Some(ca_file));
        assert!(check_hub(&url, &node, &with_ca).await.is_ok());
        let without = check_hub(&url, &node, &Trust::system()).await.unwrap_err();
        assert_eq!(without.code, "tls", "{}", without.message);
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let bad = check_hub(&url, &node, &Trust::with_ca_file(Some(junk)))
            .await
            .unwrap_err();
        assert_eq!(bad.code, "ca_file");
        stop.cancel();
        serving.await.unwrap().unwrap();
    }
}

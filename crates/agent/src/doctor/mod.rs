//! `gantry doctor`: what stands between this machine and running tasks,
//! found before a task fails on it.
//!
//! Each check is a small function that looks at one real part (the Docker
//! engine, the cgroup file system, NVML, the toolkit's programs, the hub
//! over the network, the disk, the agent's control socket) and returns a
//! [`Check`]: ok, warning or failure, what it found in a sentence, and the
//! fix in a sentence. A check that does not apply here (no NVIDIA GPU, no
//! hub configured) says so as ok or warning; none of them fails the run.
//!
//! The CLI (`gantry doctor`) and the desktop (Settings → Health, the
//! wizard) call [`run`] with the same [`Setup`], resolved from the agent's
//! own settings ([`Setup::resolve`]: flags, environment, agent.toml), so
//! they judge the machine the agent would run on. The checks live by
//! concern: [`engine`] (Docker, cgroups and the freezer), [`nvidia`] (the
//! driver and the container toolkit), [`hub`] (reachable, TLS, proxy,
//! clock), [`disk`] (the budget) and [`socket`] (a running agent).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{AgentConfig, ConfigError, Flags, default_host_dir};
use crate::disk::DiskBudget;
use gantry_client::Token;

pub mod disk;
pub mod engine;
pub mod hub;
pub mod nvidia;
pub mod socket;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Tasks run, but something may bite later, or could not be checked.
    Warning,
    /// Tasks (some or all) will fail until this is fixed.
    Failure,
}

impl Status {
    /// `ok`, `warning` or `failure`: the word `--json` writes.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failure => "failure",
        }
    }
}

/// One check's verdict: `{name, status, message, fix}` in `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// A stable name (`docker`, `cgroup`, `nvidia-driver`, …).
    pub name: String,
    /// Ok, warning or failure.
    pub status: Status,
    /// What was found, in a sentence.
    pub message: String,
    /// What to do, in a sentence; empty when nothing is to be done.
    pub fix: String,
}

impl Check {
    /// An ok verdict.
    pub fn ok(name: &str, message: impl Into<String>) -> Check {
        Check::new(name, Status::Ok, message, "")
    }

    /// A warning with its fix.
    pub fn warning(name: &str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(name, Status::Warning, message, fix)
    }

    /// A failure with its fix.
    pub fn failure(name: &str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(name, Status::Failure, message, fix)
    }

    fn new(
        name: &str,
        status: Status,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.to_owned(),
            status,
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// The worst status among `checks` (ok when there are none).
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

/// `gantry doctor`'s exit status: 0 when all is ok, 1 when the worst is a
/// warning, 2 on any failure.
pub fn exit_code(checks: &[Check]) -> u8 {
    match worst(checks) {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Failure => 2,
    }
}

/// The names of the checks [`run`] makes, in its order.
pub const CHECKS: &[&str] = &[
    "config",
    "docker",
    "cgroup",
    "nvidia-driver",
    "nvidia-toolkit",
    "hub",
    "tls",
    "proxy",
    "clock",
    "disk",
    "control-socket",
];

/// What the checks look at: the agent's settings, as it would resolve them.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The hub's address.
    pub server: Option<String>,
    /// The node token, checked with the hub; never shown.
    pub token: Option<Token>,
    /// A CA file trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Whether a token may cross the network over plain http.
    pub allow_insecure_http: bool,
    /// The agent's host dir.
    pub host_dir: PathBuf,
    /// Where the Docker engine is (`None`: DOCKER_HOST, else the standard socket).
    pub docker_host: Option<String>,
    /// How long one Docker call may take.
    pub docker_call_timeout: Duration,
    /// The disk budget.
    pub disk: DiskBudget,
    /// Why the agent's settings could not be resolved, when they could
    /// not: the `config` check's failure. The rest is then a best guess.
    pub config_problem: Option<String>,
}

impl Setup {
    /// The setup the agent's own settings give.
    pub fn from_config(config: &AgentConfig) -> Setup {
        Setup {
            server: config.server.clone(),
            token: config.token.clone(),
            ca_file: config.ca_file.clone(),
            allow_insecure_http: config.allow_insecure_http,
            host_dir: config.host_dir.clone(),
            docker_host: config.docker_host.clone(),
            docker_call_timeout: config.docker_api_call_timeout.min(Duration::from_secs(10)),
            disk: config.disk,
            config_problem: None,
        }
    }

    /// Resolves the agent's settings as `gantry agent start` would (flag >
    /// environment > config file > default). Settings the agent would refuse
    /// do not stop the doctor: the problem becomes the `config` check's
    /// failure and the other checks use what could be read (the flags, the
    /// host dir's own chain, the environment's server and CA file).
    pub fn resolve(
        flags: Flags,
        env: &dyn Fn(&str) -> Option<String>,
        default_file: Option<PathBuf>,
    ) -> Setup {
        match AgentConfig::resolve(flags.clone(), env, default_file.clone()) {
            Ok(config) => Setup::from_config(&config),
            Err(ConfigError(problem)) => {
                let var = |names: &[&str]| {
                    names
                        .iter()
                        .find_map(|name| env(name).filter(|v| !v.is_empty()))
                };
                Setup {
                    server: flags
                        .server
                        .clone()
                        .or_else(|| var(&["GANTRY_SERVER", "SERVER_ADDRESS"])),
                    token: None,
                    ca_file: flags
                        .ca_file
                        .clone()
                        .or_else(|| var(&["GANTRY_CA_FILE"]).map(PathBuf::from)),
                    allow_insecure_http: flags.allow_insecure_http,
                    host_dir: AgentConfig::resolve_host_dir(
                        flags.host_dir,
                        flags.config_file,
                        env,
                        default_file,
                    )
                    .unwrap_or_else(|_| default_host_dir()),
                    docker_host: var(&["DOCKER_HOST"]),
                    docker_call_timeout: Duration::from_secs(10),
                    disk: DiskBudget::default(),
                    config_problem: Some(problem),
                }
            }
        }
    }
}

/// The `config` check: whether the agent could start with these settings.
pub fn config(setup: &Setup) -> Check {
    match &setup.config_problem {
        None => Check::ok(
            "config",
            format!(
                "the agent's settings are valid (host dir {})",
                setup.host_dir.display()
            ),
        ),
        Some(problem) => Check::failure(
            "config",
            format!("the agent would not start with these settings: {problem}"),
            "correct the setting named above (flag, GANTRY_ variable or agent.toml), then run gantry doctor again",
        ),
    }
}

/// Every check, in [`CHECKS`]' order; the independent groups run at once.
pub async fn run(setup: &Setup) -> Vec<Check> {
    let machine = async {
        let at = engine::address(setup.docker_host.as_deref());
        let facts = engine::connect(&at, setup.docker_call_timeout).await;
        let mut checks = vec![engine::docker(&at, &facts), engine::cgroup(&at, &facts)];
        let driver = nvidia::driver(&setup.host_dir).await;
        let toolkit = nvidia::toolkit(&driver, facts.as_ref().ok()).await;
        checks.push(driver.check);
        checks.push(toolkit);
        checks
    };
    let (machine, network, disk, socket) = tokio::join!(
        machine,
        hub::checks(setup),
        disk::check(
            &setup.host_dir,
            &setup.disk,
            setup.docker_host.as_deref(),
            setup.docker_call_timeout
        ),
        socket::check(&setup.host_dir),
    );
    let mut checks = vec![config(setup)];
    checks.extend(machine);
    checks.extend(network);
    checks.push(disk);
    checks.push(socket);
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_follows_the_worst_status() {
        let ok = Check::ok("a", "fine");
        let warning = Check::warning("b", "hm", "do this");
        let failure = Check::failure("c", "broken", "do that");
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(exit_code(std::slice::from_ref(&ok)), 0);
        assert_eq!(exit_code(&[ok.clone(), warning.clone()]), 1);
        assert_eq!(exit_code(&[failure, ok, warning]), 2);
    }

    #[test]
    fn a_check_is_written_as_name_status_message_fix() {
        let json = serde_json::to_value(Check::warning("clock", "5 s off", "sync it")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "clock", "status": "warning", "message": "5 s off", "fix": "sync it"})
        );
    }

    #[test]
    fn settings_the_agent_refuses_are_the_config_checks_failure() {
        let env = |name: &str| match name {
            "GANTRY_MAX_TASKS" => Some("zero".to_owned()),
            "GANTRY_SERVER" => Some("http://127.0.0.1:9".to_owned()),
            "GANTRY_HOST_DIR" => Some("/tmp/gantry-doctor-config".to_owned()),
            _ => None,
        };
        let setup = Setup::resolve(Flags::default(), &env, None);
        let check = config(&setup);
        assert_eq!(check.status, Status::Failure, "{check:?}");
        assert!(check.message.contains("GANTRY_MAX_TASKS=zero"), "{check:?}");
        assert_eq!(setup.server.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(setup.host_dir, PathBuf::from("/tmp/gantry-doctor-config"));
    }
}

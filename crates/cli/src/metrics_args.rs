//! The metrics flags: `gantry hub serve --metrics-token`, and `gantry agent
//! start --metrics-listen` with the StatsD flags (the Semaphore agent's
//! spellings `--stats-host` / `--stats-port` accepted too).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use gantry_agent::config::Flags;
use gantry_hub::metrics::MetricsToken;

use crate::agent_args::Words;

/// Who may read the hub's `GET /metrics`. Its `Debug` never shows the token.
#[derive(Clone, Default, Args)]
pub struct HubMetricsArgs {
    /// Ask scrapers of GET /metrics for this token (Authorization: Bearer
    /// TOKEN); without it /metrics is open to anyone who reaches the hub.
    /// Prefer the variable or --metrics-token-file: a flag shows in `ps`
    /// [env: GANTRY_METRICS_TOKEN].
    #[arg(
        long,
        env = "GANTRY_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    metrics_token: Option<String>,
    /// A file holding the metrics token, readable only by you (chmod 600)
    /// [env: GANTRY_METRICS_TOKEN_FILE].
    #[arg(
        long,
        env = "GANTRY_METRICS_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "metrics_token"
    )]
    metrics_token_file: Option<PathBuf>,
}

impl std::fmt::Debug for HubMetricsArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubMetricsArgs")
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("metrics_token_file", &self.metrics_token_file)
            .finish()
    }
}

impl HubMetricsArgs {
    /// The token, from the flag, the variable or the file; `None` when none is given.
    pub fn token(&self) -> anyhow::Result<Option<MetricsToken>> {
        let token = match (&self.metrics_token, &self.metrics_token_file) {
            (Some(token), _) => token.clone(),
            (None, Some(path)) => read_private(path)?,
            (None, None) => return Ok(None),
        };
        if token.trim().is_empty() {
            bail!(
                "the metrics token is empty; give one (e.g. the output of `openssl rand -hex 32`), \
                 or leave --metrics-token out to let anyone scrape /metrics"
            );
        }
        Ok(Some(MetricsToken::new(&token)))
    }
}

/// A secret file's text; refused when others may read it.
fn read_private(path: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("cannot read the metrics token file {}", path.display()))?;
    if metadata.permissions().mode() & 0o077 != 0 {
        bail!(
            "the metrics token file {} can be read by others; run chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the metrics token file {}", path.display()))
}

/// The agent's metrics: its Prometheus page and StatsD.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct AgentMetricsArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9101
    /// (plain http, no token: keep it on loopback or a trusted network)
    /// [env: GANTRY_METRICS_LISTEN; agent.toml: metrics_listen].
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Send StatsD metrics to this host (--stats-host as in the Semaphore
    /// agent) [env: GANTRY_STATSD_HOST; agent.toml: statsd_host].
    #[arg(long, visible_alias = "stats-host", alias = "stats_host")]
    statsd_host: Option<String>,
    /// The StatsD port [env: GANTRY_STATSD_PORT; agent.toml: statsd_port; default: 8125].
    #[arg(long, visible_alias = "stats-port", alias = "stats_port")]
    statsd_port: Option<u16>,
    /// A prefix for every StatsD metric, e.g. agent.prod [env:
    /// GANTRY_STATSD_NAMESPACE; agent.toml: statsd_namespace].
    #[arg(long, alias = "statsd_namespace")]
    statsd_namespace: Option<String>,
}

impl AgentMetricsArgs {
    /// These flags as the agent's config layer takes them, over `flags`.
    pub fn into_flags(self, flags: Flags) -> Flags {
        Flags {
            metrics_listen: self.metrics_listen,
            statsd_host: self.statsd_host,
            statsd_port: self.statsd_port,
            statsd_namespace: self.statsd_namespace,
            ..flags
        }
    }

    /// The same flags as command-line words (the StatsD ones in Gantry's spelling).
    pub fn words(&self) -> Vec<String> {
        Words::default()
            .value("--metrics-listen", self.metrics_listen.as_ref())
            .value("--statsd-host", self.statsd_host.as_ref())
            .value("--statsd-port", self.statsd_port)
            .value("--statsd-namespace", self.statsd_namespace.as_ref())
            .done()
    }
}

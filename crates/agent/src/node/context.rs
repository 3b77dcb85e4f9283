//! What every task shares (the host dir, Docker, StatsD), built once for an
//! agent, and `gantry run`: one job on this machine without a hub.

use std::sync::Arc;

use gantry_protocol::TaskState;
use gantry_protocol::wire::Task;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::AgentError;
use crate::config::AgentConfig;
use crate::docker::Engine;
use crate::docker::hardening::TaskNetwork;
use crate::docker::no_private;
use crate::gpus::GpuOwner;
use crate::host::HostDir;
use crate::log_copy::LogCopy;
use crate::statsd::Statsd;
use crate::task::{self, Outcome, TaskContext, TaskRun};
use gantry_client::HubClient;

/// Builds what tasks share: host dir, Docker, StatsD.
pub async fn context(
    config: AgentConfig,
    hub: Option<HubClient>,
    stop: CancellationToken,
) -> Result<TaskContext, AgentError> {
    let host = HostDir::open(&config.host_dir).map_err(|source| AgentError::HostDir {
        path: config.host_dir.display().to_string(),
        source,
    })?;
    let agent_id = host.agent_id().map_err(|source| AgentError::HostDir {
        path: config.host_dir.display().to_string(),
        source,
    })?;
    let engine = Engine::connect(
        config.docker_host.as_deref(),
        config.docker_api_call_timeout,
    )
    .await
    .map(|engine| {
        engine
            .for_agent(agent_id)
            .with_hardening(config.hardening.clone())
    })
    .map_err(|e| e.to_string());
    if engine.is_ok() && config.hardening.network == TaskNetwork::NoPrivate {
        no_private::install(&no_private_exceptions(&config).await)
            .await
            .map_err(|e| AgentError::Config(e.to_string()))?;
    }
    if let Err(problem) = &engine {
        tracing::warn!(%problem, "Docker is not available; only tasks with executor: process can run");
    }
    let statsd = match &config.statsd {
        Some((host, port, namespace)) => match Statsd::new(host, *port, namespace) {
            Ok(statsd) => Some(Arc::new(statsd)),
            Err(error) => {
                return Err(AgentError::Config(format!(
                    "cannot send StatsD metrics to {host}:{port}: {error}"
                )));
            }
        },
        None => None,
    };
    let node = config.name.clone();
    let monitor = std::sync::Mutex::new(crate::monitor::Monitor::new(&config.host_dir));
    let gpus = Arc::new(GpuOwner::new(Arc::new(monitor), &config.reserve_gpus));
    let log_copy = if config.show_task_logs {
        Some(LogCopy::to_stdout().map_err(|error| {
            AgentError::Config(format!(
                "cannot start copying the tasks' output to stdout: {error}"
            ))
        })?)
    } else {
        None
    };
    Ok(TaskContext {
        config: Arc::new(config),
        host,
        engine,
        hub,
        node,
        statsd,
        stop,
        hub_back: Arc::new(tokio::sync::Notify::new()),
        gpus,
        log_copy,
        metrics: Arc::default(),
    })
}

/// Runs one job on this machine without a hub (`gantry run`): output goes to
/// stdout and stderr, and the outcome comes back.
pub async fn run_local(
    config: AgentConfig,
    spec: gantry_protocol::JobSpec,
    stop: CancellationToken,
) -> Result<Outcome, AgentError> {
    let ctx = context(config, None, stop.clone()).await?;
    let now = crate::clock::now_ms();
    let task = Task {
        id: format!("local-{}", uuid::Uuid::now_v7()),
        name: spec.display_name(),
        state: TaskState::Assigned,
        spec,
        node: Some(ctx.node.clone()),
        exit_code: None,
        reason: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        log_size: 0,
        pending_command: None,
        pull_progress: None,
        outputs: Vec::new(),
        history: Vec::new(),
        checkpoint: None,
        waiting: None,
        gpu_use: None,
        usage: None,
    };
    let (_paused_tx, paused) = watch::channel(false);
    let run = TaskRun {
        task,
        // Without a hub, nothing picks a task up later: stopping cancels it.
        cancel: stop.child_token(),
        detach: CancellationToken::new(),
        paused,
        // Without a hub there is no queue to release a task to.
        release: watch::channel(None).1,
        state: watch::channel(TaskState::Assigned).0,
        pull: watch::channel(None).0,
        // Nobody but the task reads its log.
        log_length: watch::channel(0).0,
        echo: true,
    };
    Ok(task::run(&ctx, run)
        .await
        .unwrap_or_else(|| Outcome::failed("the task was left running")))
}

/// What `no-private` lets tasks reach among private addresses: the hub's
/// host (every address its name has now) and the ranges the person allowed.
async fn no_private_exceptions(config: &AgentConfig) -> no_private::Exceptions {
    let mut ranges = config.hardening.network_allow.clone();
    if let Some(authority) = config.server.as_deref().map(hub_authority)
        && let Ok(addresses) = tokio::net::lookup_host(authority.as_str()).await
    {
        for address in addresses.filter(|a| a.is_ipv4()) {
            let address = address.ip().to_string();
            if !ranges.contains(&address) {
                ranges.push(address);
            }
        }
    }
    no_private::Exceptions { ranges }
}

/// `host:port` of the hub's address (`https://hub.example.com/` →
/// `hub.example.com:443`).
fn hub_authority(server: &str) -> String {
    let (scheme, rest) = server.split_once("://").unwrap_or(("http", server));
    let authority = rest.split('/').next().unwrap_or_default();
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_owned()
    } else if scheme == "https" {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hub_authorities() {
        assert_eq!(
            super::hub_authority("https://hub.example.com/"),
            "hub.example.com:443"
        );
        assert_eq!(
            super::hub_authority("http://10.0.0.2:8080"),
            "10.0.0.2:8080"
        );
        assert_eq!(super::hub_authority("http://[::1]"), "[::1]:80");
    }
}

//! `gantry agent …` and `gantry run`: the agent core, headless.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use gantry_agent::config::{AgentConfig, Flags, default_config_file};
use gantry_agent::control::{self, Request};
use gantry_agent::node::{Agent, run_local};
use gantry_agent::task::Outcome;
use gantry_client::Token;
use gantry_protocol::TaskState;
use gantry_protocol::job::{Format, JobSpec};
use tokio_util::sync::CancellationToken;

pub use crate::agent_args::{AgentOptions, Connection};

/// Arguments of `gantry agent start`. Each flag also reads its environment
/// variable and config-file key (flag > environment > file > default).
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The hub's address [env: GANTRY_SERVER, SERVER_ADDRESS].
    #[arg(long)]
    server: Option<String>,
    /// The node token from `gantry hub node add` (-t as in Prefect) [env: GANTRY_TOKEN, ACCESS_TOKEN].
    #[arg(short = 't', long)]
    token: Option<String>,
    /// A file holding the node token, readable only by you (chmod 600) [env: GANTRY_TOKEN_FILE].
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Everything else, shared with `gantry service install`.
    #[command(flatten)]
    pub(crate) options: AgentOptions,
}

/// Where to find a running agent.
#[derive(Debug, Clone, Args)]
pub struct Local {
    /// The agent's host dir [env: GANTRY_HOST_DIR, AGENT_HOST_DIR; else host_dir in the config file].
    #[arg(long)]
    host_dir: Option<PathBuf>,
    /// The agent's TOML config file, read for its host_dir [env: GANTRY_CONFIG; default: ~/.config/gantry/agent.toml].
    #[arg(long)]
    config: Option<PathBuf>,
}

impl Local {
    /// The host dir, by the agent's own chain: flag > environment > config file > default.
    fn host_dir(&self) -> anyhow::Result<PathBuf> {
        local_host_dir(self.host_dir.clone(), self.config.clone())
    }
}

/// Where the agent on this machine keeps its files, resolved exactly as
/// `gantry agent start` resolves it (flag > environment > config file >
/// default), so every command finds the agent that `agent.toml` placed.
pub fn local_host_dir(
    host_dir: Option<PathBuf>,
    config: Option<PathBuf>,
) -> anyhow::Result<PathBuf> {
    Ok(AgentConfig::resolve_host_dir(
        host_dir,
        config,
        &|name| std::env::var(name).ok(),
        default_config_file(),
    )?)
}

fn resolve(flags: Flags) -> anyhow::Result<AgentConfig> {
    Ok(AgentConfig::resolve(
        flags,
        &|name| std::env::var(name).ok(),
        default_config_file(),
    )?)
}

/// `gantry agent start`.
pub async fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let config = resolve(args.options.into_flags(Flags {
        server: args.server,
        token: args.token.map(Token::new),
        token_file: args.token_file,
        ..Flags::default()
    }))?;
    let _guard = init_logging(Some(&config.host_dir.join("logs")));
    control::check_free(&config.host_dir).await?;
    let stop = CancellationToken::new();
    let agent = match Agent::new(config, stop.clone()).await {
        Err(gantry_agent::node::AgentError::InClear(sentence)) => {
            eprintln!("error: {sentence}");
            return Ok(ExitCode::from(USAGE));
        }
        agent => agent?,
    };
    let socket = tokio::spawn(control::serve(agent.clone(), stop.clone()));
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        signal_stop.cancel();
    });
    let result = agent.run().await;
    stop.cancel();
    match socket.await {
        Ok(Err(error)) => tracing::warn!(%error, "the control socket failed"),
        Err(error) => tracing::warn!(%error, "the control socket's task failed"),
        Ok(Ok(())) => {}
    }
    match &result {
        // Its own exit status, so that a service manager does not restart
        // an agent whose token the hub will keep refusing.
        Err(gantry_agent::node::AgentError::Refused(error)) => {
            eprintln!("error: the hub refused this agent: {error}");
            return Ok(ExitCode::from(REFUSED));
        }
        // The node was removed or its token replaced: the hub's sentence says which.
        Err(gantry_agent::node::AgentError::Revoked(sentence)) => {
            eprintln!("error: {sentence}");
            return Ok(ExitCode::from(REFUSED));
        }
        _ => {}
    }
    result?;
    tracing::info!("agent stopped");
    Ok(ExitCode::SUCCESS)
}

/// `gantry agent start`'s exit status when a setting must change first
/// (e.g. a token that would go in clear over http).
pub const USAGE: u8 = 2;

/// `gantry agent start`'s exit status when the hub refuses the token for good:
/// unknown, or its node removed or its token replaced while the agent ran.
pub const REFUSED: u8 = 3;

/// `gantry agent status`.
pub async fn status(json: bool, local: &Local) -> anyhow::Result<ExitCode> {
    let answer = control::request(&local.host_dir()?, &Request::Status).await?;
    let Some(status) = answer.status else {
        bail!("{}", answer.error.unwrap_or_default())
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mode = match (status.mode.paused, status.mode.draining, &status.yielding) {
        (true, _, _) => "paused".to_owned(),
        (false, true, _) => "draining".to_owned(),
        (false, false, Some(yielding)) if yielding.gpu_only => {
            format!("taking tasks without GPUs; yielding: {}", yielding.reason)
        }
        (false, false, Some(yielding)) => format!("yielding: {}", yielding.reason),
        (false, false, None) => "taking tasks".to_owned(),
    };
    println!("agent:     {}", status.name);
    println!(
        "node:      {}",
        status
            .node
            .as_deref()
            .unwrap_or("- (not registered with the hub yet)")
    );
    println!(
        "labels:    {}",
        if status.labels.is_empty() {
            "-".to_owned()
        } else {
            status.labels.join(", ")
        }
    );
    println!(
        "hub:       {} ({})",
        status.server.as_deref().unwrap_or("-"),
        if status.connected {
            "connected"
        } else {
            "offline"
        }
    );
    println!("mode:      {mode}");
    println!("tasks:     {} of {}", status.tasks.len(), status.max_tasks);
    println!(
        "docker:    {}",
        status.docker_problem.as_deref().unwrap_or("ok")
    );
    println!("host dir:  {}", status.host_dir);
    for task in &status.tasks {
        println!("  {}  {:<10} {}", task.id, task.state.as_str(), task.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// `gantry agent pause|resume|drain`.
pub async fn steer(request: Request, local: &Local) -> anyhow::Result<ExitCode> {
    let answer = control::request(&local.host_dir()?, &request).await?;
    if !answer.ok {
        bail!(
            "{}",
            answer.error.unwrap_or_else(|| "the agent refused".into())
        );
    }
    let said = match &request {
        Request::Pause { task: Some(id) } => format!("task {id} paused"),
        Request::Pause { task: None } => "all tasks paused; no new tasks are taken".into(),
        Request::Resume { task: Some(id) } => format!("task {id} resumed"),
        Request::Resume { task: None } => "all tasks resumed".into(),
        Request::Drain { on: true } => {
            "draining: running tasks finish, no new ones are taken".into()
        }
        Request::Drain { on: false } => "taking tasks again".into(),
        Request::Cancel { task } => format!("task {task} is being canceled"),
        _ => "done".into(),
    };
    eprintln!("{said}");
    Ok(ExitCode::SUCCESS)
}

/// `gantry agent logs TASK`: the agent's own copy of a task's log, followed.
pub async fn follow(task: &str, local: &Local) -> anyhow::Result<ExitCode> {
    let mut stdout = tokio::io::stdout();
    control::follow(&local.host_dir()?, task, &mut stdout).await?;
    Ok(ExitCode::SUCCESS)
}

/// `gantry run FILE`: one job here, without a hub.
pub async fn run_file(file: PathBuf, local: &Local) -> anyhow::Result<ExitCode> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the job file {name}"))?;
    let spec = match JobSpec::parse(&text, Format::from_file_name(&name)) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("error: {name}: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let _guard = init_logging(None);
    let config = resolve(Flags {
        host_dir: Some(local.host_dir()?),
        ..Flags::default()
    })?;
    let stop = CancellationToken::new();
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        signal_stop.cancel();
    });
    let outcome = run_local(config, spec, stop).await?;
    Ok(exit_code(&outcome))
}

fn exit_code(outcome: &Outcome) -> ExitCode {
    if outcome.state != TaskState::Succeeded {
        let reason = outcome.reason.as_deref().unwrap_or("no reason given");
        eprintln!("task {}: {reason}", outcome.state);
    }
    crate::task::exit_code_for(outcome.state, outcome.exit_code)
}

/// The headless agent logs to stderr and, when it has a host dir, to
/// `agent.log` a day in its `logs` folder.
fn init_logging(logs: Option<&std::path::Path>) -> Option<gantry_logging::WorkerGuard> {
    gantry_logging::init(&gantry_logging::Logging {
        filter_var: "RUST_LOG",
        default_filter: "info,bollard=warn,hyper=warn",
        file: logs.map(|dir| gantry_logging::LogFile {
            dir: dir.to_owned(),
            prefix: "agent.log",
            suffix: None,
            keep_days: None,
        }),
    })
}

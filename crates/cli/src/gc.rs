//! `gantry agent gc [--dry-run] [--host-dir DIR]`: the disk budget kept by
//! hand. It takes stock as the agent does (the same settings: flags,
//! GANTRY_ variables, agent.toml), removes what is over the budget, least
//! recently used first, and prints one line for each thing it removes (or
//! would, with `--dry-run`), then a total. What a task this node holds
//! needs, the person's own images and kept results the hub has not got
//! (unless allowed) are never removed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use gantry_agent::config::{AgentConfig, Flags, default_config_file};
use gantry_agent::disk::{Item, Sources, amount, evict, room};
use gantry_agent::docker::Engine;
use gantry_agent::host::HostDir;
use gantry_client::{HubClient, Trust};

/// Arguments of `gantry agent gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Print what would be removed, and remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// The agent's host dir [env: GANTRY_HOST_DIR, AGENT_HOST_DIR; else host_dir in the config file].
    #[arg(long)]
    host_dir: Option<PathBuf>,
    /// The agent's TOML config file [env: GANTRY_CONFIG; default: ~/.config/gantry/agent.toml].
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    disk: crate::disk_args::DiskArgs,
}

/// `gantry agent gc`.
pub async fn gc(args: GcArgs) -> anyhow::Result<ExitCode> {
    let config = AgentConfig::resolve(
        Flags {
            host_dir: args.host_dir,
            config_file: args.config,
            disk: args.disk.into_flags(),
            no_hostname_label: true,
            ..Flags::default()
        },
        &|name| std::env::var(name).ok(),
        default_config_file(),
    )?;
    let host = HostDir::open(&config.host_dir)
        .with_context(|| format!("cannot open the host dir {}", config.host_dir.display()))?;
    let engine = match Engine::connect(
        config.docker_host.as_deref(),
        config.docker_api_call_timeout,
    )
    .await
    {
        Ok(engine) => Some(engine),
        Err(error) => {
            eprintln!("Docker is not reachable ({error}); images are left out");
            None
        }
    };
    // The hub says which kept results it has; without it they all stay.
    let hub = match (&config.server, &config.token) {
        (Some(server), Some(token)) => HubClient::with_trust(
            server,
            token.clone(),
            &Trust::with_ca_file(config.ca_file.clone()),
        )
        .ok(),
        _ => None,
    };
    let sources = Sources {
        host: &host,
        engine: engine.as_ref(),
        hub: hub.as_ref(),
        evict_unsynced_results: config.disk_evict_unsynced_results,
    };
    let standing = room::standing(sources, &config.disk).await;
    let chosen = room::over_budget(&standing);
    let removed: Vec<Item> = if args.dry_run {
        chosen.clone()
    } else {
        evict::apply(&host, engine.as_ref(), &standing.inventory, &chosen).await
    };
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for item in &removed {
        println!(
            "{verb} {} {} ({})",
            item.kind.word(),
            item.name,
            amount(item.size)
        );
    }
    let freed: u64 = removed.iter().map(|i| i.size).sum();
    println!(
        "{} {} thing{}, {}; Gantry uses {} of the {} its disk budget allows",
        if args.dry_run {
            "would remove"
        } else {
            "removed"
        },
        removed.len(),
        if removed.len() == 1 { "" } else { "s" },
        amount(freed),
        amount(standing.figures.used_by_gantry.saturating_sub(freed)),
        amount(standing.allowance.limit),
    );
    if !args.dry_run && removed.len() < chosen.len() {
        eprintln!(
            "{} could not be removed; see the agent's log",
            chosen.len() - removed.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
